#include "tollgate/stream/relay.hpp"

#include <gtest/gtest.h>

#include <string>

namespace tollgate::stream {
namespace {

std::string content_chunk(int i) {
  return "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok" +
         std::to_string(i) + " \"},\"finish_reason\":null}]}\n\n";
}
const std::string kFinish =
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
const std::string kUsage =
    "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n";
const std::string kDone = "data: [DONE]\n\n";

std::string stream_of(int tokens, bool with_usage) {
  std::string s;
  for (int i = 0; i < tokens; ++i) s += content_chunk(i);
  s += kFinish;
  if (with_usage) s += kUsage;
  return s + kDone;
}

// Feeds `input` in pieces of `piece` bytes; returns everything the client would receive.
std::string relay_all(Relay& relay, const std::string& input, std::size_t piece) {
  std::string client;
  std::string out;
  for (std::size_t at = 0; at < input.size(); at += piece) {
    const bool more = relay.on_upstream(std::string_view(input).substr(at, piece), out);
    client += out;
    if (!more) return client;
  }
  relay.on_upstream_end(out);
  return client + out;
}

TEST(Relay, ForwardsEverythingByteForByteWhenTheClientAskedForUsage) {
  const std::string input = stream_of(3, true);
  for (std::size_t piece : {1u, 7u, 64u, 100000u}) {
    Relay relay({.client_wants_usage = true});
    EXPECT_EQ(relay_all(relay, input, piece), input) << piece;
    const auto usage = relay.usage(Tokens{100});
    EXPECT_TRUE(usage.from_provider);
    EXPECT_EQ(usage.prompt, Tokens{7});
    EXPECT_EQ(usage.completion, Tokens{3});
    EXPECT_FALSE(relay.upstream_reported_error());
  }
}

TEST(Relay, RemovesTheUsageChunkTheClientDidNotAskFor) {
  Relay relay({.client_wants_usage = false});
  EXPECT_EQ(relay_all(relay, stream_of(3, true), 5), stream_of(3, false));
  EXPECT_TRUE(relay.usage(Tokens{100}).from_provider) << "the gateway still bills the provider's usage";
}

TEST(Relay, CountsWhenTheProviderSendsNoUsage) {
  Relay relay({});
  relay_all(relay, stream_of(5, false), 13);
  const auto usage = relay.usage(Tokens{42});
  EXPECT_FALSE(usage.from_provider);
  EXPECT_EQ(usage.completion, Tokens{5});
  EXPECT_EQ(usage.prompt, Tokens{42}) << "the prompt bound, which never undercounts";
}

TEST(Relay, WholeEventsOnly) {
  Relay relay({});
  std::string out;
  const std::string first = content_chunk(0);
  relay.on_upstream(std::string_view(first).substr(0, 10), out);
  EXPECT_EQ(out, "") << "half an event is held back";
  relay.on_upstream(std::string_view(first).substr(10), out);
  EXPECT_EQ(out, first);
  EXPECT_TRUE(relay.content_started());
}

TEST(Relay, ProviderFailureMidStreamEndsWithOneErrorEventAndDone) {
  Relay relay({});
  std::string out;
  relay.on_upstream(content_chunk(0) + content_chunk(1).substr(0, 5), out);
  relay.on_upstream_failure(fail(Error::upstream_error, "reset"), out);
  EXPECT_EQ(out.rfind("data: {\"error\":", 0), 0u) << out;
  EXPECT_NE(out.find("\"code\":\"upstream_error\""), std::string::npos);
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
  EXPECT_TRUE(relay.upstream_reported_error());
  EXPECT_EQ(relay.usage(Tokens{1}).completion, Tokens{1}) << "billed: what was delivered";
}

TEST(Relay, FailureAfterDoneAddsNothing) {
  Relay relay({});
  std::string out;
  relay.on_upstream(stream_of(1, false), out);
  relay.on_upstream_failure(fail(Error::upstream_error, "reset"), out);
  EXPECT_EQ(out, "");
}

TEST(Relay, EndWithoutDoneIsReportedInBand) {
  Relay relay({});
  std::string out;
  relay.on_upstream(content_chunk(0), out);
  relay.on_upstream_end(out);
  EXPECT_NE(out.find("\"error\""), std::string::npos);
  EXPECT_TRUE(out.ends_with("data: [DONE]\n\n"));
}

TEST(Relay, CommentsAndKeepAlivesPassThrough) {
  const std::string input = ": keep-alive\r\n\r\n" + content_chunk(0) + ": ping\n\n" + kDone;
  Relay relay({});
  EXPECT_EQ(relay_all(relay, input, 3), input);
}

class StopAfter final : public StreamBudget {
 public:
  explicit StopAfter(std::int64_t tokens) : tokens_(tokens) {}
  bool allow(Tokens output) override {
    seen.push_back(output.value);
    return output.value < tokens_;
  }
  std::vector<std::int64_t> seen;

 private:
  std::int64_t tokens_;
};

TEST(Relay, BudgetCutOffEndsAfterTheChunkWithAnErrorAndDone) {
  StopAfter budget(2);
  Relay relay({.budget = &budget});
  const std::string client = relay_all(relay, stream_of(5, true), 1);
  EXPECT_EQ(budget.seen, (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(relay.cut_off());
  EXPECT_TRUE(relay.finished());
  const std::string expected_prefix = content_chunk(0) + content_chunk(1);
  ASSERT_EQ(client.substr(0, expected_prefix.size()), expected_prefix);
  const std::string tail = client.substr(expected_prefix.size());
  EXPECT_EQ(tail.rfind("data: {\"error\":", 0), 0u) << tail;
  EXPECT_NE(tail.find("\"code\":\"budget_exceeded\""), std::string::npos);
  EXPECT_TRUE(tail.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(relay.usage(Tokens{9}).completion, Tokens{2}) << "exactly what was delivered";
  std::string out;
  EXPECT_FALSE(relay.on_upstream(content_chunk(9), out));
  EXPECT_EQ(out, "");
}

}  // namespace
}  // namespace tollgate::stream
