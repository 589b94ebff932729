// Integration: what operators touch (SPEC sections 2, 3, 7) on the real gateway over real
// sockets: /metrics validated by promtool and checked against a known sequence of requests and
// the usage events they produced; hot reload by file change (inotify) and by SIGHUP; an invalid
// edit keeping the old policy; a plan change reaching new requests only; and a listener change
// that needs a restart.
#include <signal.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;
using std::chrono::steady_clock;

std::string chat(const std::string& model, int max_tokens, bool stream = false, const std::string& mock = {}) {
  return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hello there"}],"max_tokens":)" +
         std::to_string(max_tokens) + (stream ? R"(,"stream":true)" : "") +
         (mock.empty() ? std::string{} : R"(,"mock":)" + mock) + "}";
}

// Replaces `path` the way editors and deployment tools do: a temp file renamed over it.
void replace_file(const fs::path& path, const std::string& content) {
  const fs::path temp = path.string() + ".tmp-edit";
  {
    std::ofstream out(temp);
    out << content;
  }
  fs::rename(temp, path);
}

// Overwrites `path` in place (truncate and write), as `echo > file` does.
void write_in_place(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  out << content;
}

class OpsWorld {
 public:
  explicit OpsWorld(const std::string& plans_yaml) : plans_(plans_yaml) {
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_.port()) + "/v1";
    gateway_yaml_ = "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
                    "limits: {local: {state_dir: state}}\n"
                    "usage: {file: {path: usage.jsonl}}\n"
                    "providers:\n  mock: {base_url: \"" + mock + "\", first_byte_timeout_ms: 5000}\n"
                    "models:\n"
                    "  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
                    "  mock-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
                    "tenants: tenants.yaml\n";
    dir_.write("tollgate.yaml", gateway_yaml_);
    dir_.write("tenants.yaml", tenants_yaml());
    gateway_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml");
  }

  // The tenants file: acme on plan `p` with its prod key, plus what `extra_tenants` adds.
  std::string tenants_yaml(const std::string& plans = {}, const std::string& acme_keys = {},
                           const std::string& extra_tenants = {}) const {
    return "plans:\n" + (plans.empty() ? plans_ : plans) + "tenants:\n  acme:\n    plan: p\n    keys:\n" +
           acme_.yaml_entry("prod") + acme_keys + extra_tenants;
  }

  Headers auth(const std::string& key) const { return {{"authorization", "Bearer " + key}}; }
  Headers auth() const { return auth(acme_.key); }
  std::uint16_t port() const { return gateway_->port(); }
  ChildProcess& process() { return gateway_->process(); }
  const fs::path& dir() const { return dir_.path(); }
  const std::string& gateway_yaml() const { return gateway_yaml_; }

  HttpResponse post(const std::string& body, const Headers& headers) const {
    return http_request(port(), "POST", "/v1/chat/completions", body, headers);
  }
  std::string metrics() const { return http_request(gateway_->admin_port(), "GET", "/metrics").body; }

  std::vector<json::object> events() const {
    std::vector<json::object> out;
    std::ifstream in(dir_.path() / "usage.jsonl");
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
    return out;
  }

  // Polls until `key` gets a 200 from /v1/models, at most `within`; returns how long it took.
  std::optional<steady_clock::duration> until_key_works(const std::string& key, std::chrono::milliseconds within) {
    const auto start = steady_clock::now();
    while (steady_clock::now() - start < within) {
      if (http_request(port(), "GET", "/v1/models", {}, auth(key)).status == 200) return steady_clock::now() - start;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
  }

 private:
  std::string plans_;
  TempDir dir_;
  MockUpstream mock_;
  TestKey acme_ = make_key();
  std::string gateway_yaml_;
  std::unique_ptr<GatewayProcess> gateway_;
};

// The value of the sample `series` (name and labels exactly as exposed), or nullopt.
std::optional<std::string> sample(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
  }
  return std::nullopt;
}

double number(const std::string& metrics, const std::string& series) {
  const auto value = sample(metrics, series);
  EXPECT_TRUE(value) << "no sample " << series << " in:\n" << metrics;
  return value ? std::stod(*value) : -1;
}

// Runs `promtool check metrics` on `metrics`; returns its exit status and output.
std::pair<int, std::string> promtool_check(const std::string& metrics, const fs::path& dir) {
  const fs::path input = dir / "metrics.txt";
  const fs::path report = dir / "promtool.txt";
  {
    std::ofstream out(input);
    out << metrics;
  }
  const std::string command = "promtool check metrics < '" + input.string() + "' > '" + report.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(report);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

TEST(Metrics, PromtoolAcceptsThePageAndValuesMatchAKnownSequenceOfRequests) {
  ASSERT_EQ(std::system("command -v promtool > /dev/null"), 0)
      << "promtool (Debian package prometheus) is needed: scripts/install-deps.sh --test installs it";
  OpsWorld world("  p: {requests_per_minute: 4, budget_usd: {daily: 1.00}}\n");
  // 4 admitted (3 whole replies, 1 stream), then one over the rate limit.
  EXPECT_EQ(world.post(chat("mock-chat", 5), world.auth()).status, 200u);
  EXPECT_EQ(world.post(chat("mock-chat", 6), world.auth()).status, 200u);
  EXPECT_EQ(world.post(chat("mock-chat", 7), world.auth()).status, 200u);
  const auto streamed = world.post(chat("mock-chat", 3, true), world.auth());
  EXPECT_EQ(streamed.status, 200u);
  EXPECT_NE(streamed.body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(world.post(chat("mock-chat", 5), world.auth()).status, 429u);
  // Refusals before admission.
  EXPECT_EQ(world.post(chat("mock-chat", 5), world.auth("tg_AAAAAAAA_" + std::string(32, 'a'))).status, 401u);
  EXPECT_EQ(world.post(chat("no-such-model", 5), world.auth()).status, 404u);
  EXPECT_EQ(world.post("{not json", world.auth()).status, 400u);

  // Admitted requests' events are written by the sink's thread: wait for all four.
  for (int i = 0; i < 200 && world.events().size() < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const auto events = world.events();
  ASSERT_EQ(events.size(), 4u);
  std::int64_t input = 0, output = 0, cost = 0;
  for (const auto& e : events) {
    input += e.at("input_tokens").as_int64();
    output += e.at("output_tokens").as_int64();
    cost += e.at("cost_nano_usd").as_int64();
  }
  EXPECT_EQ(output, 5 + 6 + 7 + 3);

  const std::string m = world.metrics();
  const auto [status, report] = promtool_check(m, world.dir());
  EXPECT_EQ(status, 0) << report << "\n" << m;

  EXPECT_EQ(number(m, R"(tollgate_requests_total{tenant="acme",model="mock-chat",status="200"})"), 4);
  EXPECT_EQ(number(m, R"(tollgate_requests_total{tenant="acme",model="mock-chat",status="429"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_requests_total{tenant="",model="",status="401"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_requests_total{tenant="acme",model="",status="404"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_requests_total{tenant="acme",model="",status="400"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_rejected_total{tenant="acme",reason="rpm"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_rejected_total{tenant="",reason="auth"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_rejected_total{tenant="acme",reason="model"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_rejected_total{tenant="acme",reason="invalid"})"), 1);
  // Tokens and cost equal what the usage events billed.
  EXPECT_EQ(number(m, R"(tollgate_tokens_total{tenant="acme",model="mock-chat",direction="input"})"), input);
  EXPECT_EQ(number(m, R"(tollgate_tokens_total{tenant="acme",model="mock-chat",direction="output"})"), output);
  EXPECT_NEAR(number(m, R"(tollgate_cost_usd_total{tenant="acme",model="mock-chat"})"), cost / 1e9, 1e-12);
  EXPECT_EQ(number(m, "tollgate_request_duration_seconds_count"), 8);
  EXPECT_EQ(number(m, "tollgate_overhead_seconds_count"), 8);
  EXPECT_EQ(number(m, R"(tollgate_upstream_ttft_seconds_count{provider="mock"})"), 1);
  EXPECT_EQ(number(m, "tollgate_active_streams"), 0);
  EXPECT_NEAR(number(m, R"(tollgate_budget_used_ratio{tenant="acme",window="daily"})"), cost / 1e9, 1e-9);
  EXPECT_EQ(number(m, R"(tollgate_usage_events_total{sink="file",result="delivered"})"), 4);
  EXPECT_EQ(number(m, R"(tollgate_config_reloads_total{result="ok"})"), 0);
  EXPECT_EQ(number(m, R"(tollgate_config_reloads_total{result="error"})"), 0);
  // Every family of SPEC section 7 is on the page.
  for (const char* family :
       {"tollgate_requests_total", "tollgate_request_duration_seconds", "tollgate_upstream_ttft_seconds",
        "tollgate_overhead_seconds", "tollgate_tokens_total", "tollgate_cost_usd_total", "tollgate_rejected_total",
        "tollgate_budget_used_ratio", "tollgate_active_streams", "tollgate_usage_events_total",
        "tollgate_usage_spool_bytes", "tollgate_limits_store_errors_total", "tollgate_config_reloads_total",
        "tollgate_worker_connections"}) {
    EXPECT_NE(m.find(std::string("# TYPE ") + family + " "), std::string::npos) << family;
  }
}

TEST(Metrics, ConnectionsAreSpreadEvenlyOverTheWorkers) {
  // Two workers, each with its own SO_REUSEPORT acceptor: left to the kernel's hash, 20
  // connections split 10/10 less than one time in five.
  OpsWorld world("  p: {}\n");
  std::vector<std::unique_ptr<HttpConnection>> connections;
  for (int i = 0; i < 20; ++i) {
    connections.push_back(std::make_unique<HttpConnection>(world.port()));
    ASSERT_EQ(connections.back()->request("GET", "/v1/models", {}, world.auth()).status, 200u);
  }
  const std::string m = world.metrics();
  EXPECT_EQ(number(m, R"(tollgate_worker_connections{worker="0"})"), 10) << m;
  EXPECT_EQ(number(m, R"(tollgate_worker_connections{worker="1"})"), 10) << m;
  // Closed connections are counted down.
  connections.clear();
  std::string after;
  for (int i = 0; i < 200; ++i) {
    after = world.metrics();
    if (number(after, R"(tollgate_worker_connections{worker="0"})") == 0 &&
        number(after, R"(tollgate_worker_connections{worker="1"})") == 0) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(number(after, R"(tollgate_worker_connections{worker="0"})"), 0) << after;
  EXPECT_EQ(number(after, R"(tollgate_worker_connections{worker="1"})"), 0) << after;
}

TEST(Reload, ANewKeyAndTenantWorkWithinOneSecondOfSavingTheFileWithoutSighup) {
  OpsWorld world("  p: {}\n");
  const TestKey second = make_key();
  const TestKey beta = make_key();
  replace_file(world.dir() / "tenants.yaml",
               world.tenants_yaml({}, second.yaml_entry("second"),
                                  "  beta:\n    plan: p\n    keys:\n" + beta.yaml_entry("prod")));
  const auto took = world.until_key_works(beta.key, std::chrono::seconds(1));
  ASSERT_TRUE(took) << world.process().output();
  EXPECT_TRUE(world.until_key_works(second.key, std::chrono::milliseconds(100)));
  EXPECT_EQ(world.post(chat("mock-chat", 2), world.auth(beta.key)).status, 200u);
  EXPECT_TRUE(world.process().wait_for_line(std::regex(R"("msg":"configuration reloaded","trigger":"file change")"),
                                            std::chrono::seconds(1)));
  EXPECT_EQ(number(world.metrics(), R"(tollgate_config_reloads_total{result="ok"})"), 1);
}

TEST(Reload, SighupReloadsAnInPlaceEdit) {
  OpsWorld world("  p: {}\n");
  const TestKey beta = make_key();
  write_in_place(world.dir() / "tenants.yaml",
                 world.tenants_yaml({}, {}, "  beta:\n    plan: p\n    keys:\n" + beta.yaml_entry("prod")));
  ASSERT_EQ(::kill(world.process().pid(), SIGHUP), 0);
  EXPECT_TRUE(world.process().wait_for_line(std::regex(R"("msg":"configuration reloaded","trigger":"SIGHUP")"),
                                            std::chrono::seconds(2)))
      << world.process().output();
  EXPECT_TRUE(world.until_key_works(beta.key, std::chrono::seconds(1)));
}

TEST(Reload, AnInvalidEditKeepsTheOldPolicyServingAndIsCountedAndLoggedWithItsPosition) {
  OpsWorld world("  p: {}\n");
  replace_file(world.dir() / "tenants.yaml", "plans:\n  p: {}\ntenants:\n  acme:\n    plan: no-such-plan\n");
  ASSERT_TRUE(world.process().wait_for_line(std::regex("configuration reload failed"), std::chrono::seconds(2)))
      << world.process().output();
  EXPECT_TRUE(world.process().wait_for_line(std::regex(R"(tenants\.yaml:\d+:\d+: )"), std::chrono::seconds(1)))
      << world.process().output();
  EXPECT_EQ(world.post(chat("mock-chat", 2), world.auth()).status, 200u);
  const std::string m = world.metrics();
  EXPECT_EQ(number(m, R"(tollgate_config_reloads_total{result="error"})"), 1);
  EXPECT_EQ(number(m, R"(tollgate_config_reloads_total{result="ok"})"), 0);
}

TEST(Reload, APlanChangeAppliesToNewRequestsWhileOneInFlightFinishesOnItsSnapshot) {
  OpsWorld world("  p: {}\n");
  StreamingResponse inflight(world.port(), "/v1/chat/completions",
                             chat("mock-chat", 20, true, R"({"chunk_delay_ms":50})"), world.auth());
  ASSERT_EQ(inflight.status(), 200u);
  inflight.read_until("tok0");
  // The plan no longer allows mock-chat (and has no downgrade for it).
  replace_file(world.dir() / "tenants.yaml", world.tenants_yaml("  p: {models: [mock-mini]}\n"));
  ASSERT_TRUE(world.process().wait_for_line(std::regex("configuration reloaded"), std::chrono::seconds(2)));
  const auto refused = world.post(chat("mock-chat", 2), world.auth());
  EXPECT_EQ(refused.status, 403u) << refused.body;
  EXPECT_EQ(world.post(chat("mock-mini", 2), world.auth()).status, 200u);
  const std::string body = inflight.read_rest();
  EXPECT_NE(body.find(R"("finish_reason":"stop")"), std::string::npos) << body;
  EXPECT_EQ(body.find("\"error\""), std::string::npos) << body;
  EXPECT_NE(body.find("[DONE]"), std::string::npos);
}

TEST(Reload, AListenerChangeIsLoggedAsNeedingARestartAndServingGoesOn) {
  OpsWorld world("  p: {}\n");
  std::string changed = world.gateway_yaml();
  changed.replace(changed.find("listen: 127.0.0.1:0"), std::string("listen: 127.0.0.1:0").size(),
                  "listen: 127.0.0.1:" + std::to_string(unused_port()));
  replace_file(world.dir() / "tollgate.yaml", changed);
  EXPECT_TRUE(world.process().wait_for_line(std::regex(R"(takes effect only after a restart","setting":"listen")"),
                                            std::chrono::seconds(2)))
      << world.process().output();
  EXPECT_EQ(world.post(chat("mock-chat", 2), world.auth()).status, 200u);
}

}  // namespace
}  // namespace tollgate::testing
