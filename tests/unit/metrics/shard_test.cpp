#include "tollgate/metrics/shard.hpp"

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// Counts heap allocations so a test can check that recording into a known series does not allocate.
namespace {
thread_local std::size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace tollgate::metrics {
namespace {

std::string rendered(const Shard& shard) {
  std::string out;
  shard.render(out);
  return out;
}

bool contains(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

RequestSample served(std::string_view tenant, std::string_view model, std::int64_t cost_nano_usd) {
  RequestSample s;
  s.tenant = tenant;
  s.model = model;
  s.provider = "openai";
  s.status = 200;
  s.duration_s = 0.8;
  s.overhead_s = 0.00004;
  s.ttft_s = 0.2;
  s.input_tokens = 10;
  s.output_tokens = 5;
  s.cost_nano_usd = cost_nano_usd;
  return s;
}

RequestSample rejected(std::string_view tenant, std::string_view model, unsigned status, std::string_view reason) {
  RequestSample s;
  s.tenant = tenant;
  s.model = model;
  s.status = status;
  s.rejected = reason;
  s.duration_s = 0.001;
  s.overhead_s = 0.001;
  return s;
}

TEST(Shard, EmptyShardRendersEveryFamily) {
  const std::string out = rendered(Shard{});
  for (const char* family :
       {"tollgate_requests_total counter", "tollgate_request_duration_seconds histogram",
        "tollgate_upstream_ttft_seconds histogram", "tollgate_overhead_seconds histogram",
        "tollgate_tokens_total counter", "tollgate_cost_usd_total counter", "tollgate_rejected_total counter",
        "tollgate_active_streams gauge"}) {
    EXPECT_TRUE(contains(out, std::string("# TYPE ") + family + "\n")) << family << "\n" << out;
  }
  EXPECT_TRUE(contains(out, "tollgate_request_duration_seconds_bucket{le=\"+Inf\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_request_duration_seconds_count 0\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_overhead_seconds_bucket{le=\"0.000005\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_overhead_seconds_sum 0\n")) << out;
  EXPECT_FALSE(contains(out, "tollgate_upstream_ttft_seconds_bucket")) << out;
  EXPECT_TRUE(contains(out, "tollgate_active_streams 0\n")) << out;
}

TEST(Shard, CostIsRenderedAsExactUsd) {
  Shard shard;
  shard.record(served("a", "zero", 0));
  shard.record(served("a", "small", 261600));
  shard.record(served("a", "large", 123'456'789'012'345'678));
  shard.record(served("a", "whole", 7'000'000'000));
  shard.record(served("a", "whole", 1));
  const std::string out = rendered(shard);
  EXPECT_TRUE(contains(out, "tollgate_cost_usd_total{tenant=\"a\",model=\"zero\"} 0\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_cost_usd_total{tenant=\"a\",model=\"small\"} 0.0002616\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_cost_usd_total{tenant=\"a\",model=\"large\"} 123456789.012345678\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_cost_usd_total{tenant=\"a\",model=\"whole\"} 7.000000001\n")) << out;
}

TEST(Shard, LabelValuesAreEscaped) {
  Shard shard;
  shard.record(served("a\"b\\c\nd", "m", 0));
  const std::string out = rendered(shard);
  EXPECT_TRUE(contains(out, "tollgate_requests_total{tenant=\"a\\\"b\\\\c\\nd\",model=\"m\",status=\"200\"} 1\n"))
      << out;
}

TEST(Shard, LabelValuesAreCopiedWhenASeriesIsFirstSeen) {
  Shard shard;
  {
    std::string tenant = "acme";
    std::string model = "gpt-4o";
    std::string provider = "openai";
    RequestSample s = served(tenant, model, 0);
    s.provider = provider;
    shard.record(s);
    tenant.assign("XXXX");
    model.assign("YYYYYY");
    provider.assign("ZZZZZZ");
  }
  const std::string out = rendered(shard);
  EXPECT_TRUE(contains(out, "tollgate_requests_total{tenant=\"acme\",model=\"gpt-4o\",status=\"200\"} 1\n")) << out;
  EXPECT_TRUE(contains(out, "tollgate_upstream_ttft_seconds_count{provider=\"openai\"} 1\n")) << out;
}

TEST(Shard, SeriesAreSortedByLabelValuesAndStatusNumerically) {
  Shard shard;
  shard.record(rejected("b", "m", 502, ""));
  shard.record(served("b", "m", 0));
  shard.record(rejected("b", "m", 1000, ""));
  shard.record(served("a", "z", 0));
  shard.record(served("a", "m", 0));
  const std::string out = rendered(shard);
  const std::vector<std::string> in_order{
      "tollgate_requests_total{tenant=\"a\",model=\"m\",status=\"200\"} 1\n",
      "tollgate_requests_total{tenant=\"a\",model=\"z\",status=\"200\"} 1\n",
      "tollgate_requests_total{tenant=\"b\",model=\"m\",status=\"200\"} 1\n",
      "tollgate_requests_total{tenant=\"b\",model=\"m\",status=\"502\"} 1\n",
      "tollgate_requests_total{tenant=\"b\",model=\"m\",status=\"1000\"} 1\n"};
  std::size_t at = 0;
  for (const std::string& line : in_order) {
    const std::size_t found = out.find(line, at);
    ASSERT_NE(found, std::string::npos) << line << out;
    at = found;
  }
}

TEST(Shard, RejectionsAreSummedOverModelsPerTenantAndReason) {
  Shard shard;
  shard.record(rejected("acme", "gpt-4o", 429, "rpm"));
  shard.record(rejected("acme", "claude", 429, "rpm"));
  shard.record(rejected("acme", "claude", 402, "budget"));
  shard.record(rejected("", "", 401, "auth"));
  const std::string out = rendered(shard);
  EXPECT_TRUE(contains(out,
                       "tollgate_rejected_total{tenant=\"\",reason=\"auth\"} 1\n"
                       "tollgate_rejected_total{tenant=\"acme\",reason=\"budget\"} 1\n"
                       "tollgate_rejected_total{tenant=\"acme\",reason=\"rpm\"} 2\n"))
      << out;
  // An unrouted request counts as a request but has no token or cost series.
  EXPECT_TRUE(contains(out, "tollgate_requests_total{tenant=\"\",model=\"\",status=\"401\"} 1\n")) << out;
  EXPECT_FALSE(contains(out, "tollgate_tokens_total{tenant=\"\"")) << out;
  EXPECT_FALSE(contains(out, "tollgate_cost_usd_total{tenant=\"\"")) << out;
}

TEST(Shard, ActiveStreamsAreSummedOverShards) {
  Shard a;
  Shard b;
  a.stream_opened();
  a.stream_opened();
  a.stream_opened();
  a.stream_closed();
  b.stream_opened();
  a.merge(b);
  EXPECT_TRUE(contains(rendered(a), "tollgate_active_streams 3\n"));
}

TEST(Shard, MergingTwoShardsEqualsRecordingEverythingInOne) {
  const std::vector<RequestSample> first{served("acme", "gpt-4o", 261600), rejected("acme", "gpt-4o", 429, "rpm"),
                                         rejected("", "", 401, "auth")};
  RequestSample other_provider = served("acme", "claude", 1'000'000'001);
  other_provider.provider = "anthropic";
  other_provider.ttft_s = 45;
  RequestSample no_overhead = served("beta", "gpt-4o", 3);
  no_overhead.overhead_s = -1;
  no_overhead.ttft_s = -1;
  const std::vector<RequestSample> second{served("acme", "gpt-4o", 1), other_provider, no_overhead,
                                          rejected("acme", "gpt-4o", 429, "rpm"),
                                          rejected("acme", "gpt-4o", 402, "budget")};
  Shard a;
  Shard b;
  Shard all;
  for (const RequestSample& s : first) {
    a.record(s);
    all.record(s);
  }
  for (const RequestSample& s : second) {
    b.record(s);
    all.record(s);
  }
  b.stream_opened();
  all.stream_opened();

  Shard merged;  // as the server does: merge copies into an empty shard
  merged.merge(Shard(a));
  merged.merge(Shard(b));
  EXPECT_EQ(rendered(merged), rendered(all));
  a.merge(b);
  EXPECT_EQ(rendered(a), rendered(all));
}

TEST(Shard, RecordingIntoAKnownSeriesDoesNotAllocate) {
  Shard shard;
  const RequestSample ok = served("acme", "gpt-4o", 261600);
  const RequestSample limited = rejected("acme", "gpt-4o", 429, "rpm");
  const std::size_t first_seen = allocations;
  shard.record(ok);
  shard.record(limited);
  EXPECT_GT(allocations, first_seen);  // the counter does count: a new series allocates
  const std::size_t before = allocations;
  for (int i = 0; i < 100; ++i) {
    shard.record(ok);
    shard.record(limited);
    shard.stream_opened();
    shard.stream_closed();
  }
  EXPECT_EQ(allocations, before);
}

TEST(Shard, FullRenderGolden) {
  Shard shard;
  RequestSample ok;
  ok.tenant = "acme";
  ok.model = "gpt-4o";
  ok.provider = "openai";
  ok.status = 200;
  ok.duration_s = 1.2;
  ok.overhead_s = 0.00003;
  ok.ttft_s = 0.3;
  ok.input_tokens = 100;
  ok.output_tokens = 50;
  ok.cost_nano_usd = 261600;
  shard.record(ok);
  RequestSample limited;
  limited.tenant = "acme";
  limited.model = "gpt-4o";
  limited.status = 429;
  limited.rejected = "rpm";
  limited.duration_s = 0.002;
  limited.overhead_s = 0.00001;
  shard.record(limited);
  RequestSample unauthenticated;
  unauthenticated.status = 401;
  unauthenticated.rejected = "auth";
  unauthenticated.duration_s = 0.001;
  unauthenticated.overhead_s = 0.000005;
  shard.record(unauthenticated);
  shard.stream_opened();

  EXPECT_EQ(rendered(shard),
            "# HELP tollgate_requests_total Requests by tenant, public model and HTTP status sent.\n"
            "# TYPE tollgate_requests_total counter\n"
            "tollgate_requests_total{tenant=\"\",model=\"\",status=\"401\"} 1\n"
            "tollgate_requests_total{tenant=\"acme\",model=\"gpt-4o\",status=\"200\"} 1\n"
            "tollgate_requests_total{tenant=\"acme\",model=\"gpt-4o\",status=\"429\"} 1\n"
            "# HELP tollgate_request_duration_seconds Whole-request time, from the request head to the last byte sent.\n"
            "# TYPE tollgate_request_duration_seconds histogram\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.005\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.01\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.025\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.05\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.1\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.25\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"0.5\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"1\"} 2\n"
            "tollgate_request_duration_seconds_bucket{le=\"2.5\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"5\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"10\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"30\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"60\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"120\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"300\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"600\"} 3\n"
            "tollgate_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"
            "tollgate_request_duration_seconds_sum 1.203\n"
            "tollgate_request_duration_seconds_count 3\n"
            "# HELP tollgate_upstream_ttft_seconds Time from forwarding a request to its first token, by provider.\n"
            "# TYPE tollgate_upstream_ttft_seconds histogram\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.005\"} 0\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.01\"} 0\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.025\"} 0\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.05\"} 0\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.1\"} 0\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.25\"} 0\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"0.5\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"1\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"2.5\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"5\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"10\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"30\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"60\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"120\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"300\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"600\"} 1\n"
            "tollgate_upstream_ttft_seconds_bucket{provider=\"openai\",le=\"+Inf\"} 1\n"
            "tollgate_upstream_ttft_seconds_sum{provider=\"openai\"} 0.3\n"
            "tollgate_upstream_ttft_seconds_count{provider=\"openai\"} 1\n"
            "# HELP tollgate_overhead_seconds Time spent in the gateway itself, upstream time excluded.\n"
            "# TYPE tollgate_overhead_seconds histogram\n"
            "tollgate_overhead_seconds_bucket{le=\"0.000005\"} 1\n"
            "tollgate_overhead_seconds_bucket{le=\"0.00001\"} 2\n"
            "tollgate_overhead_seconds_bucket{le=\"0.000025\"} 2\n"
            "tollgate_overhead_seconds_bucket{le=\"0.00005\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.0001\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.00025\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.0005\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.001\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.0025\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.005\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.01\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.025\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"0.1\"} 3\n"
            "tollgate_overhead_seconds_bucket{le=\"+Inf\"} 3\n"
            "tollgate_overhead_seconds_sum 0.000045\n"
            "tollgate_overhead_seconds_count 3\n"
            "# HELP tollgate_tokens_total Tokens by tenant, public model and direction (input or output).\n"
            "# TYPE tollgate_tokens_total counter\n"
            "tollgate_tokens_total{tenant=\"acme\",model=\"gpt-4o\",direction=\"input\"} 100\n"
            "tollgate_tokens_total{tenant=\"acme\",model=\"gpt-4o\",direction=\"output\"} 50\n"
            "# HELP tollgate_cost_usd_total Cost charged, in USD, by tenant and public model.\n"
            "# TYPE tollgate_cost_usd_total counter\n"
            "tollgate_cost_usd_total{tenant=\"acme\",model=\"gpt-4o\"} 0.0002616\n"
            "# HELP tollgate_rejected_total Requests the gateway refused, by tenant and reason.\n"
            "# TYPE tollgate_rejected_total counter\n"
            "tollgate_rejected_total{tenant=\"\",reason=\"auth\"} 1\n"
            "tollgate_rejected_total{tenant=\"acme\",reason=\"rpm\"} 1\n"
            "# HELP tollgate_active_streams Streaming responses being relayed now.\n"
            "# TYPE tollgate_active_streams gauge\n"
            "tollgate_active_streams 1\n");
}

}  // namespace
}  // namespace tollgate::metrics
