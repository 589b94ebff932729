// Integration: HTTP/2 to providers. The mock upstream speaks h2c (prior knowledge) and h2 by
// ALPN with --h2; the gateway must multiplex requests on few connections, respect the
// provider's MAX_CONCURRENT_STREAMS, survive GOAWAY, and reset only the stream of a client
// that leaves.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Headers = std::vector<std::pair<std::string, std::string>>;

json::object stats_of(MockUpstream& mock) {
  return json::parse(http_request(mock.port(), "GET", "/mock/stats").body).as_object();
}

std::int64_t stat(MockUpstream& mock, const char* name) { return stats_of(mock).at(name).as_int64(); }

// A chat completion without the fields that differ per request (id, created).
json::object comparable(const std::string& body) {
  auto object = json::parse(body).as_object();
  object.erase("id");
  object.erase("created");
  return object;
}

// The `data:` payloads of an SSE body without id and created, in order.
std::vector<json::value> comparable_events(const std::string& body) {
  std::vector<json::value> out;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const auto end = body.find_first_of("\r\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    at = end;
    if (data == "[DONE]") {
      out.emplace_back("[DONE]");
      continue;
    }
    auto event = json::parse(data).as_object();
    event.erase("id");
    event.erase("created");
    out.emplace_back(std::move(event));
  }
  return out;
}

// Polls `done` every 5 ms for at most `limit`.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds limit = std::chrono::seconds(3)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class UpstreamH2Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    h2_ = new MockUpstream({"--h2", "--max-concurrent-streams", "100"});
    few_ = new MockUpstream({"--h2", "--max-concurrent-streams", "10"});
    goaway_ = new MockUpstream({"--h2", "--goaway-after", "5"});
    key_ = new TestKey(make_key());
    const auto url = [](MockUpstream* m) { return "\"http://127.0.0.1:" + std::to_string(m->port()) + "/v1\""; };
    dir_->write("tollgate.yaml",
                "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 1\n"
                "providers:\n"
                "  h2: {base_url: " + url(h2_) + ", http2: on}\n"
                "  h1: {base_url: " + url(h2_) + ", http2: off}\n"
                "  quick: {base_url: " + url(h2_) + ", http2: on, first_byte_timeout_ms: 700, stream_idle_timeout_ms: 400}\n"
                "  plain-auto: {base_url: " + url(h2_) + "}\n"
                "  few: {base_url: " + url(few_) + ", http2: on}\n"
                "  goaway: {base_url: " + url(goaway_) + ", http2: on}\n"
                "  pinged: {base_url: " + url(h2_) + ", http2: on, http2_ping_interval_ms: 100, connect_timeout_ms: 1000}\n"
                "models:\n"
                "  h2: {provider: h2, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  h1: {provider: h1, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  quick: {provider: quick, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  plain-auto: {provider: plain-auto, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  few: {provider: few, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  goaway: {provider: goaway, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  pinged: {provider: pinged, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "tenants: tenants.yaml\n");
    dir_->write("tenants.yaml", "plans: {open: {}}\ntenants:\n  acme:\n    plan: open\n    keys:\n" +
                                    key_->yaml_entry("prod"));
    gateway_ = new GatewayProcess(dir_->path() / "tollgate.yaml");
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete goaway_;
    delete few_;
    delete h2_;
    delete key_;
    delete dir_;
  }

  static Headers auth() { return {{"authorization", "Bearer " + key_->key}}; }
  // A sample of the gateway's /metrics; the gateway is this test process's own.
  static double upstream_metric(const std::string& series) { return metric(gateway_->admin_port(), series); }
  static std::string body(const std::string& model, const std::string& extra = {}) {
    return R"({"model":")" + model + R"(","messages":[{"role":"user","content":"Hello there"}])" + extra + "}";
  }
  static HttpResponse chat(const std::string& model, const std::string& extra = {}) {
    return http_request(gateway_->port(), "POST", "/v1/chat/completions", body(model, extra), auth());
  }

  // Sends `n` requests at once (one thread each) and returns how many got a 200.
  static int concurrent_chats(int n, const std::string& model, const std::string& extra) {
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&ok, &model, &extra] {
        try {
          if (chat(model, extra).status == 200) ok.fetch_add(1);
        } catch (const std::exception&) {
          // counted as a failure: `ok` stays
        }
      });
    }
    for (auto& t : threads) t.join();
    return ok.load();
  }

  static inline TempDir* dir_ = nullptr;
  static inline MockUpstream* h2_ = nullptr;
  static inline MockUpstream* few_ = nullptr;
  static inline MockUpstream* goaway_ = nullptr;
  static inline GatewayProcess* gateway_ = nullptr;
  static inline TestKey* key_ = nullptr;
};

TEST_F(UpstreamH2Test, NonStreamingReplyIsTheSameAsOverHttp11) {
  const auto streams_before = stat(*h2_, "h2_streams");
  const auto over_h2 = chat("h2");
  ASSERT_EQ(over_h2.status, 200u) << over_h2.body;
  EXPECT_EQ(stat(*h2_, "h2_streams"), streams_before + 1) << "the request went over HTTP/2";
  const auto over_h1 = chat("h1");
  ASSERT_EQ(over_h1.status, 200u) << over_h1.body;
  EXPECT_EQ(stat(*h2_, "h2_streams"), streams_before + 1) << "http2: off stays on HTTP/1.1";
  auto a = comparable(over_h2.body);
  auto b = comparable(over_h1.body);
  a.erase("model");  // the public model names differ (h2 / h1); everything else must not
  b.erase("model");
  EXPECT_EQ(a, b);
  EXPECT_EQ(over_h2.header("content-type"), over_h1.header("content-type"));
}

TEST_F(UpstreamH2Test, StreamingReplyIsTheSameAsOverHttp11) {
  const std::string extra = R"(,"stream":true,"stream_options":{"include_usage":true},"mock":{"completion_tokens":40})";
  const auto over_h2 = chat("h2", extra);
  const auto over_h1 = chat("h1", extra);
  ASSERT_EQ(over_h2.status, 200u) << over_h2.body;
  ASSERT_EQ(over_h1.status, 200u) << over_h1.body;
  EXPECT_EQ(over_h2.header("content-type"), "text/event-stream");
  auto a = comparable_events(over_h2.body);
  auto b = comparable_events(over_h1.body);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 43u);  // role, 40 tokens, finish, usage, [DONE]
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].is_object()) {
      a[i].as_object().erase("model");
      b[i].as_object().erase("model");
    }
    EXPECT_EQ(a[i], b[i]) << "event " << i;
  }
}

TEST_F(UpstreamH2Test, PlainHttpAutoUsesHttp11) {
  const auto streams_before = stat(*h2_, "h2_streams");
  const auto requests_before = stat(*h2_, "requests");
  ASSERT_EQ(chat("plain-auto").status, 200u);
  EXPECT_EQ(stat(*h2_, "requests"), requests_before + 1);
  EXPECT_EQ(stat(*h2_, "h2_streams"), streams_before) << "no ALPN on plain http: auto means HTTP/1.1";
  // The gateway's own account: one HTTP/1.1 connection, pooled after the request.
  EXPECT_EQ(upstream_metric("tollgate_upstream_connections{protocol=\"http1\"}"), 1);
  EXPECT_EQ(upstream_metric("tollgate_upstream_connections{protocol=\"h2\"}"), 0);
  EXPECT_EQ(upstream_metric("tollgate_upstream_connects_total"), 1);
}

TEST_F(UpstreamH2Test, TwoHundredConcurrentRequestsShareAtMostTwoConnections) {
  const auto accepted_before = stat(*h2_, "connections_accepted");
  const auto h2_before = stat(*h2_, "h2_connections");
  const auto streams_before = stat(*h2_, "h2_streams");
  // Each reply waits 400 ms at the mock, so the requests overlap.
  EXPECT_EQ(concurrent_chats(200, "h2", R"(,"mock":{"first_byte_delay_ms":400})"), 200);
  const auto stats = stats_of(*h2_);
  EXPECT_EQ(stats.at("h2_streams").as_int64() - streams_before, 200);
  // New TCP connections, minus the three stats requests of this test (one per GET).
  EXPECT_LE(stats.at("connections_accepted").as_int64() - accepted_before - 3, 2);
  EXPECT_LE(stats.at("h2_connections").as_int64() - h2_before, 2);
  // The gateway counts the same (its first request in this test process started them all).
  const auto h2_open = upstream_metric("tollgate_upstream_connections{protocol=\"h2\"}");
  EXPECT_GE(h2_open, 1);
  EXPECT_LE(h2_open, 2);
  EXPECT_LE(upstream_metric("tollgate_upstream_connects_total"), 2);
  EXPECT_EQ(upstream_metric("tollgate_upstream_connections{protocol=\"http1\"}"), 0);
}

TEST_F(UpstreamH2Test, FullConnectionsMakeTheGatewayOpenAnother) {
  const auto h2_before = stat(*few_, "h2_connections");
  // 30 overlapping requests, 10 streams per connection: three connections.
  EXPECT_EQ(concurrent_chats(30, "few", R"(,"mock":{"first_byte_delay_ms":600})"), 30);
  const auto opened = stat(*few_, "h2_connections") - h2_before;
  EXPECT_GE(opened, 3);
  EXPECT_LE(opened, 4);
}

TEST_F(UpstreamH2Test, RequestsKeepSucceedingAcrossGoaway) {
  const auto goaways_before = stat(*goaway_, "h2_goaways_sent");
  for (int i = 0; i < 12; ++i) ASSERT_EQ(chat("goaway").status, 200u) << "request " << i;
  EXPECT_GE(stat(*goaway_, "h2_goaways_sent") - goaways_before, 2);
  EXPECT_GE(upstream_metric("tollgate_upstream_h2_goaways_total"), 2);
  // Overlapping requests: those above the GOAWAY's last stream id are refused by the mock
  // and retried by the gateway on a new connection.
  const auto requests_before = stat(*goaway_, "requests");
  const auto goaways_mid = stat(*goaway_, "h2_goaways_sent");
  EXPECT_EQ(concurrent_chats(10, "goaway", R"(,"mock":{"first_byte_delay_ms":200})"), 10);
  EXPECT_GE(stat(*goaway_, "h2_goaways_sent") - goaways_mid, 1);
  EXPECT_EQ(stat(*goaway_, "requests") - requests_before, 10) << "each request processed exactly once";
  // How many streams the gateway had to retry (usually several; timing decides).
  RecordProperty("h2_streams_refused", static_cast<int>(stat(*goaway_, "h2_streams_refused")));
}

// Stops a process for as long as it lives (the TCP connections to it stay open, unanswered).
class Frozen {
 public:
  explicit Frozen(pid_t pid) : pid_(pid) { ::kill(pid_, SIGSTOP); }
  ~Frozen() { ::kill(pid_, SIGCONT); }
  Frozen(const Frozen&) = delete;
  Frozen& operator=(const Frozen&) = delete;

 private:
  pid_t pid_;
};

TEST_F(UpstreamH2Test, AProviderThatStopsAnsweringPingsLosesItsConnection) {
  ASSERT_EQ(chat("pinged").status, 200u);
  // A live provider answers the PINGs (one per 100 ms of silence): the connection stays,
  // longer than an unanswered PING would keep it.
  std::this_thread::sleep_for(1500ms);
  ASSERT_EQ(chat("pinged").status, 200u);
  EXPECT_EQ(upstream_metric("tollgate_upstream_connects_total"), 1);
  {
    // A PING within 100 ms, no answer within 1000 ms (connect_timeout_ms): the connection fails.
    const Frozen frozen(h2_->process().pid());
    std::this_thread::sleep_for(2000ms);
  }
  EXPECT_EQ(upstream_metric("tollgate_upstream_connections{protocol=\"h2\"}"), 0);
  ASSERT_EQ(chat("pinged").status, 200u);
  EXPECT_EQ(upstream_metric("tollgate_upstream_connects_total"), 2) << "a new connection, not the silent one";
}

TEST_F(UpstreamH2Test, ClientDisconnectResetsOnlyItsStream) {
  ASSERT_EQ(chat("h2").status, 200u);  // the gateway's connection to the mock is up
  const auto resets_before = stat(*h2_, "h2_resets_received");
  const auto aborted_before = stat(*h2_, "streams_aborted");
  const auto connections_before = stat(*h2_, "h2_connections");
  const std::string extra = R"(,"stream":true,"mock":{"completion_tokens":60,"chunk_delay_ms":10})";
  StreamingResponse leaving(gateway_->port(), "/v1/chat/completions", body("h2", extra), auth());
  StreamingResponse staying(gateway_->port(), "/v1/chat/completions", body("h2", extra), auth());
  ASSERT_EQ(leaving.status(), 200u);
  ASSERT_EQ(staying.status(), 200u);
  leaving.read_until("tok2 ");
  leaving.close();
  EXPECT_TRUE(eventually([&] { return stat(*h2_, "h2_resets_received") > resets_before; }))
      << "the gateway sent RST_STREAM for the stream of the client that left";
  EXPECT_TRUE(eventually([&] { return stat(*h2_, "streams_aborted") > aborted_before; }));
  const std::string rest = staying.read_rest();
  EXPECT_NE(rest.find("tok59 "), std::string::npos);
  EXPECT_NE(rest.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(stat(*h2_, "h2_connections"), connections_before) << "the connection carried on";
}

TEST_F(UpstreamH2Test, SlowReaderPausesOnlyItsOwnStream) {
  ASSERT_EQ(chat("h2").status, 200u);  // the gateway's connection to the mock is up
  const auto completed_before = stat(*h2_, "streams_completed");
  const auto connections_before = stat(*h2_, "h2_connections");
  const auto resets_before = stat(*h2_, "h2_resets_received");
  // About 60 MB of events; the client reads 1 byte per ms, so flow control must hold the
  // provider's stream back (the gateway takes at most one window ahead of its reader).
  StreamingResponse slow(gateway_->port(), "/v1/chat/completions",
                         body("h2", R"(,"stream":true,"mock":{"completion_tokens":400000})"), auth());
  slow.set_receive_buffer(4096);
  ASSERT_EQ(slow.status(), 200u);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(800);
  while (std::chrono::steady_clock::now() < until) {
    slow.read_some(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(stat(*h2_, "streams_completed"), completed_before) << "the slow stream is held back, not finished";
  // Meanwhile other streams on the same connection go at full speed.
  const auto started = std::chrono::steady_clock::now();
  const auto other = chat("h2", R"(,"stream":true,"mock":{"completion_tokens":200})");
  ASSERT_EQ(other.status, 200u);
  EXPECT_NE(other.body.find("tok199 "), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(stat(*h2_, "h2_connections"), connections_before) << "both streams shared the connection";
  slow.close();
  EXPECT_TRUE(eventually([&] { return stat(*h2_, "h2_resets_received") > resets_before; }));
}

// The last two `data:` payloads of an SSE body must be an error with `code`, then [DONE].
void expect_error_then_done(const std::string& all, const std::string& code) {
  const auto at = all.rfind("data: {\"error\"");
  ASSERT_NE(at, std::string::npos) << all;
  const auto end = all.find('\n', at);
  EXPECT_EQ(json::parse(all.substr(at + 6, end - at - 6)).at("error").at("code").as_string(), code);
  EXPECT_NE(all.find("data: [DONE]", end), std::string::npos);
}

TEST_F(UpstreamH2Test, SilentProviderIs504WithinTheFirstByteTimeout) {
  const auto r = chat("quick", R"(,"mock":{"first_byte_delay_ms":3000})");
  EXPECT_EQ(r.status, 504u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "upstream_timeout");
}

TEST_F(UpstreamH2Test, StalledStreamEndsAfterTheIdleTimeout) {
  const auto start = std::chrono::steady_clock::now();
  const auto r = chat("quick", R"(,"stream":true,"max_tokens":3,"mock":{"chunk_delay_ms":1500})");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));
  ASSERT_EQ(r.status, 200u);
  expect_error_then_done(r.body, "upstream_timeout");
}

TEST_F(UpstreamH2Test, ProviderResetOfOneStreamIsAnUpstreamError) {
  const auto r = chat("h2", R"(,"stream":true,"mock":{"reset_after":3})");
  ASSERT_EQ(r.status, 200u);
  EXPECT_NE(r.body.find("tok2 "), std::string::npos);
  expect_error_then_done(r.body, "upstream_error");
  EXPECT_EQ(chat("h2").status, 200u) << "the connection still serves other streams";
}

// Last of the suite (it stops the gateway): the gateway stops cleanly with HTTP/2 connections open (and, in the sanitizer build,
// reports no error or leak on its way out).
TEST_F(UpstreamH2Test, GatewayStopsCleanlyWithOpenH2Connections) {
  ASSERT_EQ(chat("h2").status, 200u);
  StreamingResponse open(gateway_->port(), "/v1/chat/completions",
                         body("h2", R"(,"stream":true,"mock":{"completion_tokens":20,"chunk_delay_ms":10})"), auth());
  ASSERT_EQ(open.status(), 200u);
  open.read_until("tok1 ");
  const auto code = gateway_->process().stop(SIGTERM, std::chrono::seconds(20));
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << gateway_->process().output();
  const std::string output = gateway_->process().output();
  EXPECT_EQ(output.find("Sanitizer"), std::string::npos) << output;
  EXPECT_EQ(output.find("runtime error"), std::string::npos) << output;
  delete gateway_;
  gateway_ = nullptr;
}

// h2 by ALPN over TLS: `auto` picks h2 when the provider offers it; `on` requires it.
class UpstreamH2TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto key = (dir_->path() / "mock.key").string();
    cert_ = new std::string((dir_->path() / "mock.crt").string());
    ChildProcess openssl({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                          "-out", *cert_, "-days", "1", "-subj", "/CN=localhost", "-addext",
                          "subjectAltName=DNS:localhost"});
    ASSERT_EQ(openssl.wait(std::chrono::seconds(30)), 0) << openssl.output();
    h2_ = new MockUpstream({"--tls-cert", *cert_, "--tls-key", key, "--h2"});
    h1_ = new MockUpstream({"--tls-cert", *cert_, "--tls-key", key});
    key_ = new TestKey(make_key());
    const auto url = [](MockUpstream* m) { return "\"https://localhost:" + std::to_string(m->port()) + "/v1\""; };
    dir_->write("tollgate.yaml",
                "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 1\n"
                "providers:\n"
                "  auto-h2: {base_url: " + url(h2_) + ", ca_file: mock.crt}\n"
                "  off-h2: {base_url: " + url(h2_) + ", ca_file: mock.crt, http2: off}\n"
                "  auto-h1: {base_url: " + url(h1_) + ", ca_file: mock.crt}\n"
                "  on-h1: {base_url: " + url(h1_) + ", ca_file: mock.crt, http2: on}\n"
                "models:\n"
                "  auto-h2: {provider: auto-h2, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  off-h2: {provider: off-h2, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  auto-h1: {provider: auto-h1, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  on-h1: {provider: on-h1, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "tenants: tenants.yaml\n");
    dir_->write("tenants.yaml", "plans: {open: {}}\ntenants:\n  acme:\n    plan: open\n    keys:\n" +
                                    key_->yaml_entry("prod"));
    gateway_ = new GatewayProcess(dir_->path() / "tollgate.yaml");
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete h1_;
    delete h2_;
    delete key_;
    delete cert_;
    delete dir_;
  }

  static HttpResponse chat(const std::string& model, const std::string& extra = {}) {
    return http_request(gateway_->port(), "POST", "/v1/chat/completions",
                        R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}])" + extra + "}",
                        {{"authorization", "Bearer " + key_->key}});
  }
  static std::int64_t h2_streams(MockUpstream& m) {
    return json::parse(https_get(m.port(), "/mock/stats", *cert_).body).at("h2_streams").as_int64();
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::string* cert_ = nullptr;
  static inline MockUpstream* h2_ = nullptr;
  static inline MockUpstream* h1_ = nullptr;
  static inline GatewayProcess* gateway_ = nullptr;
  static inline TestKey* key_ = nullptr;
};

TEST_F(UpstreamH2TlsTest, AutoUsesH2WhenTheProviderPicksItByAlpn) {
  const auto before = h2_streams(*h2_);
  ASSERT_EQ(chat("auto-h2").status, 200u);
  const auto streamed = chat("auto-h2", R"(,"stream":true,"mock":{"completion_tokens":5})");
  ASSERT_EQ(streamed.status, 200u);
  EXPECT_NE(streamed.body.find("tok4 "), std::string::npos);
  EXPECT_EQ(h2_streams(*h2_), before + 2);
}

TEST_F(UpstreamH2TlsTest, OffStaysOnHttp11) {
  const auto before = h2_streams(*h2_);
  ASSERT_EQ(chat("off-h2").status, 200u);
  EXPECT_EQ(h2_streams(*h2_), before);
}

TEST_F(UpstreamH2TlsTest, AutoFallsBackToHttp11WhenTheProviderOnlySpeaksIt) {
  for (int i = 0; i < 3; ++i) ASSERT_EQ(chat("auto-h1").status, 200u);
}

TEST_F(UpstreamH2TlsTest, OnFailsClearlyWhenTheProviderRefusesH2) {
  const auto r = chat("on-h1");
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_NE(r.body.find("HTTP/2"), std::string::npos) << r.body;
}

}  // namespace
}  // namespace tollgate::testing
