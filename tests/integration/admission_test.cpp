// Integration: admission through the real gateway (embedded local store) against the real mock
// upstream over loopback: 429 / 402 / 400 answers and their headers, the completion allowance
// in the forwarded body, settle refunds, concurrency slots, spend-based downgrade, stream
// cut-off by budget, and spend surviving a restart.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

// One gateway on the local store, with a tenant `acme` on `plan_yaml` (a flow mapping).
class AdmissionWorld {
 public:
  explicit AdmissionWorld(const std::string& plan_yaml, const std::string& state_dir = {}) {
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_.port()) + "/v1";
    state_dir_ = state_dir.empty() ? (dir_.path() / "state").string() : state_dir;
    dir_.write("tollgate.yaml",
               "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
               "limits: {store: local, local: {state_dir: \"" + state_dir_ + "\"}}\n"
               "providers:\n  mock: {base_url: \"" + mock + "\", stream_idle_timeout_ms: 2000}\n"
               "models:\n"
               "  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00, max_output_tokens: 500}\n"
               "  mock-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
               "tenants: tenants.yaml\n");
    dir_.write("tenants.yaml", "plans:\n  p: " + plan_yaml + "\ntenants:\n  acme:\n    plan: p\n    keys:\n" +
                                   key_.yaml_entry("prod"));
    start();
  }

  void start() { gateway_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml"); }
  void stop() {
    gateway_->process().stop(SIGTERM, std::chrono::seconds(10));
    gateway_.reset();
  }

  Headers auth() const { return {{"authorization", "Bearer " + key_.key}}; }
  std::uint16_t port() const { return gateway_->port(); }
  GatewayProcess& gateway() { return *gateway_; }
  MockUpstream& mock() { return mock_; }

  HttpResponse chat(const std::string& extra, const std::string& model = "mock-chat") {
    return http_request(port(), "POST", "/v1/chat/completions", chat_body(extra, model), auth());
  }
  static std::string chat_body(const std::string& extra, const std::string& model = "mock-chat") {
    return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"Hello there"}])" + extra + "}";
  }
  json::object last_forwarded() {
    return json::parse(json::parse(http_request(mock_.port(), "GET", "/mock/last").body).at("body").as_string())
        .as_object();
  }
  json::object access_line(const std::string& request_id) {
    const auto line = gateway_->process().wait_for_line(
        std::regex("\\{.*\"msg\":\"request\",\"request_id\":\"" + request_id + "\".*\\}"), std::chrono::seconds(5));
    if (!line) return {};
    return json::parse((*line)[0]).as_object();
  }

 private:
  TempDir dir_;
  MockUpstream mock_;
  TestKey key_ = make_key();
  std::string state_dir_;
  std::unique_ptr<GatewayProcess> gateway_;
};

json::object error_of(const HttpResponse& r) { return json::parse(r.body).at("error").as_object(); }

TEST(Admission, RequestsPerMinuteAnswers429WithRetryAfterAndRateLimitHeaders) {
  AdmissionWorld world("{requests_per_minute: 3, tokens_per_minute: 100000}");
  HttpConnection c(world.port());
  for (int i = 0; i < 3; ++i) {
    const auto r = c.request("POST", "/v1/chat/completions", AdmissionWorld::chat_body(R"(,"max_tokens":5)"),
                             world.auth());
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "3");
    EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), std::to_string(2 - i));
    EXPECT_EQ(r.header("x-ratelimit-limit-tokens"), "100000");
    EXPECT_FALSE(r.header("x-ratelimit-remaining-tokens").empty());
    EXPECT_FALSE(r.header("x-ratelimit-reset-requests").empty());
    EXPECT_FALSE(r.header("x-ratelimit-reset-tokens").empty());
  }
  const auto refused = c.request("POST", "/v1/chat/completions", AdmissionWorld::chat_body(R"(,"max_tokens":5)"),
                                 world.auth());
  ASSERT_EQ(refused.status, 429u);
  const auto error = error_of(refused);
  EXPECT_EQ(error.at("type").as_string(), "rate_limit_error");
  EXPECT_EQ(error.at("code").as_string(), "rate_limit_exceeded");
  // One request refills in 20 s at 3 per minute.
  const int retry_after = std::stoi(refused.header("retry-after"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 20);
  EXPECT_EQ(refused.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_FALSE(refused.header("x-request-id").empty());
}

TEST(Admission, BudgetTooSmallForTheWorstCaseIs402WithDetails) {
  AdmissionWorld world("{budget_usd: {daily: 0.0001, monthly: 1.00}}");
  const auto r = world.chat(R"(,"max_tokens":100)");  // worst case > 100 x $10/Mtok = $0.001
  ASSERT_EQ(r.status, 402u) << r.body;
  const auto error = error_of(r);
  EXPECT_EQ(error.at("type").as_string(), "insufficient_quota");
  EXPECT_EQ(error.at("code").as_string(), "budget_exceeded");
  EXPECT_EQ(error.at("window").as_string(), "daily");
  EXPECT_DOUBLE_EQ(error.at("limit_usd").to_number<double>(), 0.0001);
  EXPECT_DOUBLE_EQ(error.at("spent_usd").to_number<double>(), 0.0);
  const std::string resets_at(error.at("resets_at").as_string());
  EXPECT_EQ(resets_at.size(), 20u) << resets_at;
  EXPECT_EQ(resets_at.substr(10), "T00:00:00Z");
  // A cheaper request fits.
  EXPECT_EQ(world.chat(R"(,"max_tokens":2)").status, 200u);
}

TEST(Admission, MaxTokensOverThePlanCeilingIs400) {
  AdmissionWorld world("{max_tokens_per_request: 200}");
  const auto r = world.chat(R"(,"max_tokens":300)");
  ASSERT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(error_of(r).at("code").as_string(), "max_tokens_exceeded");
  EXPECT_EQ(error_of(r).at("param").as_string(), "max_tokens");
  EXPECT_EQ(world.chat(R"(,"max_tokens":150)").status, 200u);
}

TEST(Admission, TheAllowanceIsWrittenIntoTheForwardedBodyWhenTheClientSentNone) {
  AdmissionWorld world("{max_tokens_per_request: 200}");
  ASSERT_EQ(world.chat("").status, 200u);
  const auto forwarded = world.last_forwarded();
  ASSERT_TRUE(forwarded.contains("max_completion_tokens")) << json::serialize(forwarded);
  const auto allowance = forwarded.at("max_completion_tokens").as_int64();
  // ceiling 200 minus the prompt bound (a few dozen tokens for "Hello there").
  EXPECT_GT(allowance, 150);
  EXPECT_LT(allowance, 200);
  EXPECT_FALSE(forwarded.contains("max_tokens"));

  // A client's own max_tokens is forwarded untouched.
  ASSERT_EQ(world.chat(R"(,"max_tokens":7)").status, 200u);
  const auto own = world.last_forwarded();
  EXPECT_EQ(own.at("max_tokens").as_int64(), 7);
  EXPECT_FALSE(own.contains("max_completion_tokens"));
}

TEST(Admission, NoCeilingMeansTheModelsMaxOutputTokens) {
  AdmissionWorld world("{}");
  ASSERT_EQ(world.chat("").status, 200u);
  EXPECT_EQ(world.last_forwarded().at("max_completion_tokens").as_int64(), 500);
}

TEST(Admission, SettleRefundsTheUnusedReservation) {
  // Room for one worst case ($0.00104 for max_tokens 100 plus the prompt) but not two: only a
  // refund of the first request's unused reservation lets the next ones in.
  AdmissionWorld world("{budget_usd: {daily: 0.0015}}");
  HttpConnection c(world.port());
  for (int i = 0; i < 3; ++i) {
    const auto r = c.request("POST", "/v1/chat/completions", AdmissionWorld::chat_body(R"(,"max_tokens":100,"mock":{"completion_tokens":2})"),
                             world.auth());
    ASSERT_EQ(r.status, 200u) << "request " << i << ": " << r.body;
    // Settles run just after the response; give the next request a moment to see the refund.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(Admission, ConcurrencySlotsAreHeldForTheRequestAndFreedAfter) {
  AdmissionWorld world("{max_concurrent: 2}");
  const std::string slow = AdmissionWorld::chat_body(R"(,"stream":true,"max_tokens":10,"mock":{"chunk_delay_ms":100})");
  StreamingResponse a(world.port(), "/v1/chat/completions", slow, world.auth());
  StreamingResponse b(world.port(), "/v1/chat/completions", slow, world.auth());
  ASSERT_EQ(a.status(), 200u);
  ASSERT_EQ(b.status(), 200u);
  const auto refused = world.chat(R"(,"max_tokens":5)");
  ASSERT_EQ(refused.status, 429u) << refused.body;
  EXPECT_NE(error_of(refused).at("message").as_string().find("max_concurrent"), std::string::npos);
  EXPECT_EQ(refused.header("retry-after"), "1");
  a.read_rest();
  b.read_rest();
  // The slots come back once both streams have settled.
  unsigned status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = world.chat(R"(,"max_tokens":5)").status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(status, 200u);
}

TEST(Admission, SpendPastDowngradeAtRoutesToTheDowngradeTarget) {
  // Each request costs about $0.0005 (50 output tokens at $10/Mtok); once spent + reserved is
  // past 50% of $0.002 (after two requests) the plan's downgrade applies.
  AdmissionWorld world("{budget_usd: {daily: 0.002}, downgrade_at: 0.5, downgrade: {mock-chat: mock-mini}}");
  HttpConnection c(world.port());
  const std::string body = AdmissionWorld::chat_body(R"(,"max_tokens":50,"mock":{"completion_tokens":50})");
  std::vector<std::string> downgraded;
  for (int i = 0; i < 4; ++i) {
    const auto r = c.request("POST", "/v1/chat/completions", body, world.auth());
    ASSERT_EQ(r.status, 200u) << r.body;
    downgraded.push_back(r.header("x-tollgate-downgraded-from"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(downgraded, (std::vector<std::string>{"", "", "mock-chat", "mock-chat"}));
  EXPECT_EQ(world.last_forwarded().at("model").as_string(), "mock-mini");
}

TEST(Admission, AStreamOutgrowingABudgetIsCutOffCleanlyAndBilledForWhatWasDelivered) {
  // The reservation covers max_tokens 20; the mock ignores it and sends 400 tokens. The
  // budget covers the first reservation but not 400 tokens: the stream must end in-band.
  AdmissionWorld world("{budget_usd: {daily: 0.0012}}");
  StreamingResponse r(world.port(), "/v1/chat/completions",
                      AdmissionWorld::chat_body(R"(,"stream":true,"max_tokens":20,"mock":{"completion_tokens":400})"),
                      world.auth());
  ASSERT_EQ(r.status(), 200u);
  const std::string all = r.read_rest();
  EXPECT_NE(all.find(R"("code":"budget_exceeded")"), std::string::npos) << all.substr(all.size() > 400 ? all.size() - 400 : 0);
  EXPECT_EQ(all.substr(all.size() - 14), "data: [DONE]\n\n");
  const auto log = world.access_line(r.header("x-request-id"));
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.at("outcome").as_string(), "budget_cutoff");
  EXPECT_EQ(log.at("token_source").as_string(), "counted");
  const auto cost = std::stoll(std::string(log.at("cost_nano_usd").as_string()));
  EXPECT_LE(cost, 1'200'000) << "never more than the budget";
  const auto output = std::stoll(std::string(log.at("output_tokens").as_string()));
  EXPECT_GT(output, 20) << "the reservation was extended while the budget allowed";
  EXPECT_LT(output, 400);
}

TEST(Admission, UsageEndpointReportsTheTenantsWindowsAndLimits) {
  AdmissionWorld world("{requests_per_minute: 100, max_concurrent: 4, budget_usd: {daily: 1.5}}");
  HttpConnection c(world.port());
  std::int64_t cost = 0;
  for (int i = 0; i < 3; ++i) {
    const auto r = c.request("POST", "/v1/chat/completions",
                             AdmissionWorld::chat_body(R"(,"max_tokens":4,"mock":{"completion_tokens":4})"), world.auth());
    ASSERT_EQ(r.status, 200u);
    cost += std::stoll(std::string(world.access_line(r.header("x-request-id")).at("cost_nano_usd").as_string()));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the last settle
  const auto r = c.request("GET", "/v1/usage", {}, world.auth());
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/json");
  const auto u = json::parse(r.body).as_object();
  EXPECT_EQ(u.at("tenant").as_string(), "acme");
  EXPECT_EQ(u.at("plan").as_string(), "p");
  const auto& daily = u.at("daily").as_object();
  EXPECT_EQ(daily.at("requests").as_int64(), 3);
  EXPECT_EQ(daily.at("output_tokens").as_int64(), 12);
  EXPECT_GT(daily.at("input_tokens").as_int64(), 0);
  EXPECT_NEAR(daily.at("spent_usd").to_number<double>(), static_cast<double>(cost) / 1e9, 1e-12);
  EXPECT_DOUBLE_EQ(daily.at("limit_usd").to_number<double>(), 1.5);
  EXPECT_EQ(std::string(daily.at("start").as_string()).substr(10), "T00:00:00Z");
  const auto& monthly = u.at("monthly").as_object();
  EXPECT_EQ(monthly.at("requests").as_int64(), 3);
  EXPECT_TRUE(monthly.at("limit_usd").is_null());
  EXPECT_EQ(std::string(monthly.at("start").as_string()).substr(7), "-01T00:00:00Z");
  const auto& limits = u.at("limits").as_object();
  EXPECT_EQ(limits.at("requests_per_minute").as_int64(), 100);
  EXPECT_EQ(limits.at("max_concurrent").as_int64(), 4);
  EXPECT_TRUE(limits.at("requests_per_day").is_null());
  EXPECT_EQ(c.request("GET", "/v1/usage", {}, {}).status, 401u) << "only with a key";
  EXPECT_EQ(c.request("POST", "/v1/usage", "{}", world.auth()).status, 405u);
}

TEST(Admission, SpendSurvivesARestart) {
  // Room for three requests of about $0.0004 each; then 402, also after a restart.
  AdmissionWorld world("{budget_usd: {daily: 0.0013}}");
  const std::string extra = R"(,"max_tokens":40,"mock":{"completion_tokens":40})";
  int admitted = 0;
  for (int i = 0; i < 6; ++i) {
    const auto r = world.chat(extra);
    if (r.status == 200) ++admitted;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(admitted, 3);
  world.stop();
  world.start();
  const auto r = world.chat(extra);
  EXPECT_EQ(r.status, 402u) << r.body;
  EXPECT_GT(error_of(r).at("spent_usd").to_number<double>(), 0.001);
}

}  // namespace
}  // namespace tollgate::testing
