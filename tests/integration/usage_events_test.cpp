// Integration: usage events from the real gateway (file sink, and CloudEvents format) for
// requests over real sockets against the real mock upstream: one event per admitted request
// whatever its outcome, none for refused requests, tokens and cost equal to what was billed,
// whole lines under concurrency, rotation losing nothing, and budget alerts.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

class UsageWorld {
 public:
  UsageWorld(const std::string& plan_yaml, const std::string& usage_yaml) {
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_.port()) + "/v1";
    dir_.write("tollgate.yaml",
               "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
               "limits: {local: {state_dir: state}}\n"
               "usage: " + usage_yaml + "\n"
               "providers:\n  mock: {base_url: \"" + mock + "\", first_byte_timeout_ms: 500}\n"
               "models:\n  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
               "tenants: tenants.yaml\n");
    dir_.write("tenants.yaml", "plans:\n  p: " + plan_yaml + "\ntenants:\n  acme:\n    plan: p\n    keys:\n" +
                                   key_.yaml_entry("prod"));
    gateway_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml");
  }

  Headers auth() const { return {{"authorization", "Bearer " + key_.key}}; }
  std::uint16_t port() const { return gateway_->port(); }
  std::string metrics() const { return http_request(gateway_->admin_port(), "GET", "/metrics").body; }
  const fs::path& dir() const { return dir_.path(); }
  std::string key() const { return key_.key; }

  // Stops the gateway (SIGTERM: it flushes the sink) and returns its exit code.
  int stop() {
    const auto code = gateway_->process().stop(SIGTERM, std::chrono::seconds(15));
    return code.value_or(-1);
  }
  std::string gateway_output() { return gateway_->process().output(); }

  // Every line of usage.jsonl and its rotated siblings, oldest file first.
  std::vector<std::string> event_lines() const {
    std::vector<std::pair<int, fs::path>> files;
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      const std::string name = entry.path().filename().string();
      if (name == "usage.jsonl") files.emplace_back(1'000'000, entry.path());
      if (name.rfind("usage.jsonl.", 0) == 0) files.emplace_back(std::stoi(name.substr(12)), entry.path());
    }
    std::sort(files.begin(), files.end());
    std::vector<std::string> lines;
    for (const auto& [n, path] : files) {
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) lines.push_back(line);
    }
    return lines;
  }

  std::size_t rotated_files() const {
    std::size_t n = 0;
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      if (entry.path().filename().string().rfind("usage.jsonl.", 0) == 0) ++n;
    }
    return n;
  }

 private:
  TempDir dir_;
  MockUpstream mock_;
  TestKey key_ = make_key();
  std::unique_ptr<GatewayProcess> gateway_;
};

std::string chat_body(const std::string& extra) {
  return R"({"model":"mock-chat","messages":[{"role":"user","content":"Hello there"}])" + extra + "}";
}

// The access-log lines of a gateway's output, by request id.
std::map<std::string, json::object> access_log(const std::string& output) {
  std::map<std::string, json::object> out;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("\"msg\":\"request\"") == std::string::npos) continue;
    auto record = json::parse(line).as_object();
    out[std::string(record.at("request_id").as_string())] = record;
  }
  return out;
}

TEST(UsageEvents, OneEventPerAdmittedRequestWhateverItsOutcomeAndNoneForRefusals) {
  UsageWorld world("{requests_per_day: 1000}", "{sink: file, file: {path: usage.jsonl}}");
  Headers with_extras = world.auth();
  with_extras.emplace_back("x-tollgate-feature", "chat");
  with_extras.emplace_back("x-tollgate-agent", "support-bot");
  // completed, streamed, provider error, provider silent (504), client gone mid-stream.
  EXPECT_EQ(http_request(world.port(), "POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":3,"user":"u-42")"),
                         with_extras).status,
            200u);
  {
    StreamingResponse s(world.port(), "/v1/chat/completions", chat_body(R"(,"stream":true,"max_tokens":4)"), world.auth());
    s.read_rest();
  }
  EXPECT_EQ(http_request(world.port(), "POST", "/v1/chat/completions", chat_body(R"(,"mock":{"fail_status":500})"),
                         world.auth()).status,
            500u);
  EXPECT_EQ(http_request(world.port(), "POST", "/v1/chat/completions",
                         chat_body(R"(,"mock":{"first_byte_delay_ms":2000})"), world.auth()).status,
            504u);
  {
    StreamingResponse s(world.port(), "/v1/chat/completions",
                        chat_body(R"(,"stream":true,"max_tokens":100,"mock":{"chunk_delay_ms":20})"), world.auth());
    s.read_until("tok2");
    s.close();
  }
  // Refused before forwarding: no events.
  EXPECT_EQ(http_request(world.port(), "POST", "/v1/chat/completions", chat_body(""), {}).status, 401u);
  EXPECT_EQ(http_request(world.port(), "POST", "/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"x"}]})",
                         world.auth()).status,
            404u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the abandoned stream settles
  ASSERT_EQ(world.stop(), 0);

  const auto lines = world.event_lines();
  ASSERT_EQ(lines.size(), 5u);
  const auto log = access_log(world.gateway_output());
  std::multiset<std::string> outcomes;
  std::set<std::string> ids;
  for (const auto& line : lines) {
    const auto e = json::parse(line).as_object();
    EXPECT_EQ(e.at("schema").as_int64(), 1);
    EXPECT_EQ(e.at("type").as_string(), "usage");
    EXPECT_EQ(e.at("tenant").as_string(), "acme");
    EXPECT_EQ(e.at("plan").as_string(), "p");
    EXPECT_EQ(e.at("provider").as_string(), "mock");
    EXPECT_EQ(e.at("key").as_string(), "prod");
    EXPECT_TRUE(ids.insert(std::string(e.at("event_id").as_string())).second);
    outcomes.insert(std::string(e.at("outcome").as_string()));
    // Tokens and cost are exactly what the access log (and the settle) used.
    const auto& a = log.at(std::string(e.at("request_id").as_string()));
    EXPECT_EQ(std::to_string(e.at("input_tokens").as_int64()), a.at("input_tokens").as_string());
    EXPECT_EQ(std::to_string(e.at("output_tokens").as_int64()), a.at("output_tokens").as_string());
    EXPECT_EQ(std::to_string(e.at("cost_nano_usd").as_int64()), a.at("cost_nano_usd").as_string());
    EXPECT_EQ(std::to_string(e.at("status").as_int64()), a.at("status").as_string());
    EXPECT_EQ(line.find(world.key()), std::string::npos) << "a key in an event";
  }
  EXPECT_EQ(outcomes, (std::multiset<std::string>{"completed", "completed", "upstream_error", "upstream_error",
                                                  "client_disconnect"}));
  const auto first = json::parse(lines.front()).as_object();
  EXPECT_EQ(first.at("feature").as_string(), "chat");
  EXPECT_EQ(first.at("agent").as_string(), "support-bot");
  EXPECT_EQ(first.at("end_user").as_string(), "u-42");
  EXPECT_EQ(first.at("output_tokens").as_int64(), 3);
  EXPECT_GT(first.at("cost_nano_usd").as_int64(), 0);
}

TEST(UsageEvents, ConcurrentRequestsFromEveryWorkerGiveWholeLinesAndRotationLosesNothing) {
  UsageWorld world("{}", "{sink: file, file: {path: usage.jsonl, max_bytes: 20000}}");
  constexpr int kClients = 8;
  constexpr int kEach = 40;
  std::vector<std::thread> clients;
  std::atomic<int> ok = 0;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      HttpConnection conn(world.port());
      for (int i = 0; i < kEach; ++i) {
        if (conn.request("POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":2)"), world.auth()).status == 200) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  ASSERT_EQ(ok.load(), kClients * kEach);
  // /metrics counts them as delivered once the writer has written them (within a second).
  const std::string delivered = "tollgate_usage_events_total{sink=\"file\",result=\"delivered\"} " +
                                std::to_string(kClients * kEach) + "\n";
  std::string page;
  for (int i = 0; i < 100 && page.find(delivered) == std::string::npos; ++i) {
    page = world.metrics();
    if (page.find(delivered) == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(page.find(delivered), std::string::npos) << page;
  EXPECT_NE(page.find("# TYPE tollgate_usage_events_total counter\n"), std::string::npos);
  EXPECT_NE(page.find("tollgate_usage_events_total{sink=\"file\",result=\"dropped\"} 0\n"), std::string::npos);
  EXPECT_NE(page.find("tollgate_limits_store_errors_total{decision=\"budgets_closed\"} 0\n"), std::string::npos);
  ASSERT_EQ(world.stop(), 0);
  const auto lines = world.event_lines();
  EXPECT_EQ(lines.size(), static_cast<std::size_t>(kClients * kEach));
  std::set<std::string> requests;
  for (const auto& line : lines) {
    json::object e;
    ASSERT_NO_THROW(e = json::parse(line).as_object()) << "not a whole JSON line: " << line;
    requests.insert(std::string(e.at("request_id").as_string()));
  }
  EXPECT_EQ(requests.size(), lines.size()) << "an event written twice";
  EXPECT_GE(world.rotated_files(), 3u) << "20 kB files should have rotated";
}

TEST(UsageEvents, CloudEventsFormatAndOneBudgetAlertPerWindow) {
  // $0.0005 daily; each request costs about $0.00012 (10 output tokens + prompt): the alert at
  // 80% fires once, not on every later request.
  UsageWorld world("{budget_usd: {daily: 0.0005}}", "{sink: file, format: cloudevents, file: {path: usage.jsonl}}");
  HttpConnection conn(world.port());
  int admitted = 0;
  for (int i = 0; i < 8; ++i) {
    const auto r = conn.request("POST", "/v1/chat/completions",
                                chat_body(R"(,"max_tokens":10,"mock":{"completion_tokens":10})"), world.auth());
    if (r.status == 200) ++admitted;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(world.stop(), 0);
  int usage = 0;
  std::vector<json::object> alerts;
  for (const auto& line : world.event_lines()) {
    const auto ce = json::parse(line).as_object();
    EXPECT_EQ(ce.at("specversion").as_string(), "1.0");
    EXPECT_EQ(ce.at("subject").as_string(), "acme");
    EXPECT_EQ(ce.at("id").as_string(), ce.at("data").at("event_id").as_string());
    EXPECT_EQ(std::string(ce.at("source").as_string()).substr(0, 9), "tollgate/");
    if (ce.at("type").as_string() == "tollgate.usage") ++usage;
    if (ce.at("type").as_string() == "tollgate.budget_alert") alerts.push_back(ce.at("data").as_object());
  }
  EXPECT_EQ(usage, admitted);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].at("window").as_string(), "daily");
  EXPECT_DOUBLE_EQ(alerts[0].at("threshold").to_number<double>(), 0.8);
  EXPECT_DOUBLE_EQ(alerts[0].at("limit_usd").to_number<double>(), 0.0005);
  EXPECT_GE(alerts[0].at("spent_usd").to_number<double>(), 0.0004);
  EXPECT_EQ(std::string(alerts[0].at("resets_at").as_string()).substr(10), "T00:00:00Z");
}

}  // namespace
}  // namespace tollgate::testing
