// Integration: SSE streaming through the real gateway from the real mock upstream, over
// loopback sockets: relay, usage handling, counting, and every ending of a stream.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

// The `data:` payloads of an SSE body, in order.
std::vector<std::string> data_lines(const std::string& body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const auto end = body.find_first_of("\r\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

// The completion text carried by the content chunks.
std::string streamed_text(const std::string& body) {
  std::string text;
  for (const auto& data : data_lines(body)) {
    if (data == "[DONE]") continue;
    const auto chunk = json::parse(data).as_object();
    if (!chunk.contains("choices")) continue;
    for (const auto& choice : chunk.at("choices").as_array()) {
      const auto& c = choice.as_object();
      if (c.contains("delta") && c.at("delta").as_object().contains("content")) {
        text += std::string(c.at("delta").at("content").as_string());
      }
      if (c.contains("text")) text += std::string(c.at("text").as_string());
    }
  }
  return text;
}

std::string mock_text(int tokens) {
  std::string text;
  for (int i = 0; i < tokens; ++i) text += "tok" + std::to_string(i) + " ";
  return text;
}

std::int64_t rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

class StreamingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new MockUpstream();
    key_ = new TestKey(make_key());
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_->port()) + "/v1";
    dir_->write("tollgate.yaml",
                "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
                "providers:\n"
                "  mock: {base_url: \"" + mock + "\", first_byte_timeout_ms: 700, stream_idle_timeout_ms: 400}\n"
                "models:\n"
                "  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
                "  mock-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
                "tenants: tenants.yaml\n");
    dir_->write("tenants.yaml",
                "plans:\n  basic: {models: [mock-mini], downgrade: {mock-chat: mock-mini}}\n"
                "tenants:\n  acme:\n    plan: basic\n    keys:\n" + key_->yaml_entry("prod"));
    gateway_ = new GatewayProcess(dir_->path() / "tollgate.yaml");
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete mock_;
    delete key_;
    delete dir_;
  }

  static Headers auth() { return {{"authorization", "Bearer " + key_->key}}; }
  static std::string body(const std::string& extra) {
    return R"({"model":"mock-mini","stream":true,"messages":[{"role":"user","content":"Hello there"}])" + extra + "}";
  }
  static json::object mock_stats() {
    return json::parse(http_request(mock_->port(), "GET", "/mock/stats").body).as_object();
  }
  // The access-log line of the request with this id, once written.
  static json::object access_line(const std::string& request_id) {
    const auto line = gateway_->process().wait_for_line(
        std::regex("\\{.*\"msg\":\"request\",\"request_id\":\"" + request_id + "\".*\\}"), std::chrono::seconds(5));
    if (!line) return {};
    return json::parse((*line)[0]).as_object();
  }

  static inline TempDir* dir_ = nullptr;
  static inline MockUpstream* mock_ = nullptr;
  static inline GatewayProcess* gateway_ = nullptr;
  static inline TestKey* key_ = nullptr;
};

TEST_F(StreamingTest, StreamsTheMocksTextAndHidesTheUsageChunkItDidNotAskFor) {
  StreamingResponse r(gateway_->port(), "/v1/chat/completions", body(R"(,"max_tokens":8)"), auth());
  ASSERT_EQ(r.status(), 200u);
  EXPECT_EQ(r.header("content-type"), "text/event-stream");
  EXPECT_FALSE(r.header("x-request-id").empty());
  const std::string all = r.read_rest();
  EXPECT_EQ(streamed_text(all), mock_text(8));
  EXPECT_EQ(all.find("\"usage\":{"), std::string::npos) << "no usage chunk when the client did not ask";
  EXPECT_EQ(data_lines(all).back(), "[DONE]");
  // ...but the provider was asked for it, and the gateway billed the provider's numbers.
  const auto forwarded = json::parse(json::parse(http_request(mock_->port(), "GET", "/mock/last").body)
                                         .at("body").as_string()).as_object();
  EXPECT_TRUE(forwarded.at("stream_options").at("include_usage").as_bool());
  const auto log = access_line(r.header("x-request-id"));
  EXPECT_EQ(log.at("outcome").as_string(), "completed");
  EXPECT_EQ(log.at("token_source").as_string(), "provider");
  EXPECT_EQ(log.at("output_tokens").as_string(), "8");
}

TEST_F(StreamingTest, UsageChunkIsRelayedWhenTheClientAskedForIt) {
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"max_tokens":3,"stream_options":{"include_usage":true})"), auth());
  const std::string all = r.read_rest();
  const auto lines = data_lines(all);
  ASSERT_GE(lines.size(), 2u);
  const auto usage = json::parse(lines[lines.size() - 2]).as_object();
  EXPECT_EQ(usage.at("usage").at("completion_tokens").as_int64(), 3);
  EXPECT_EQ(usage.at("choices").as_array().size(), 0u);
}

TEST_F(StreamingTest, ChunksArriveAsTheyAreSentWithNoCoalescing) {
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"max_tokens":6,"mock":{"chunk_delay_ms":80})"), auth());
  const auto start = std::chrono::steady_clock::now();
  r.read_until("tok0 ");
  const auto first = std::chrono::steady_clock::now() - start;
  r.read_rest();
  const auto total = std::chrono::steady_clock::now() - start;
  EXPECT_LT(first, std::chrono::milliseconds(400)) << "the first token must not wait for the rest";
  EXPECT_GT(total - first, std::chrono::milliseconds(300)) << "later tokens keep arriving one by one";
  EXPECT_EQ(streamed_text(r.body_so_far()), mock_text(6));
  const auto log = access_line(r.header("x-request-id"));
  EXPECT_FALSE(std::string(log.at("ttft_ms").as_string()).empty());
}

TEST_F(StreamingTest, EventsThatArriveTogetherLeaveInOneWrite) {
  // The mock writes all 40 token events (each its own HTTP chunk) in one write: a read that
  // brings many chunks is relayed in one write, not one write per upstream chunk (a relay that
  // fell behind catches up instead of making a system call per event).
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"mock":{"completion_tokens":40,"one_write":true})"), auth());
  ASSERT_EQ(r.status(), 200u);
  const std::string all = r.read_rest();
  EXPECT_EQ(streamed_text(all), mock_text(40));
  EXPECT_EQ(data_lines(all).back(), "[DONE]");
  EXPECT_LE(r.data_chunks(), 8u) << "43 events came in " << r.data_chunks() << " writes";
}

TEST_F(StreamingTest, ProviderResetMidStreamEndsWithAnErrorEventAndDone) {
  StreamingResponse r(gateway_->port(), "/v1/chat/completions", body(R"(,"mock":{"reset_after":3})"), auth());
  const std::string all = r.read_rest();  // the chunked body ends cleanly
  EXPECT_TRUE(r.done());
  const auto lines = data_lines(all);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.back(), "[DONE]");
  const auto error = json::parse(lines[lines.size() - 2]).as_object();
  EXPECT_EQ(error.at("error").at("code").as_string(), "upstream_error");
  EXPECT_EQ(streamed_text(all), mock_text(3));
  const auto log = access_line(r.header("x-request-id"));
  EXPECT_EQ(log.at("outcome").as_string(), "upstream_error");
  EXPECT_EQ(log.at("output_tokens").as_string(), "3") << "billed: what was delivered";
  EXPECT_EQ(log.at("token_source").as_string(), "counted");
}

TEST_F(StreamingTest, StalledProviderEndsTheStreamAfterTheIdleTimeout) {
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"max_tokens":3,"mock":{"chunk_delay_ms":1500})"), auth());
  const auto start = std::chrono::steady_clock::now();
  const std::string all = r.read_rest();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1400));
  const auto lines = data_lines(all);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_EQ(lines.back(), "[DONE]");
  EXPECT_EQ(json::parse(lines[lines.size() - 2]).at("error").at("code").as_string(), "upstream_timeout");
}

TEST_F(StreamingTest, GapsJustUnderTheIdleTimeoutNeverEndTheStream) {
  // 300 ms between events against stream_idle_timeout_ms 400, for 1.8 s: the timeout counts from
  // the start of each read, never from the first.
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"max_tokens":2,"mock":{"chunk_delay_ms":300})"), auth());
  const std::string all = r.read_rest();
  EXPECT_EQ(streamed_text(all), mock_text(2));
  EXPECT_EQ(all.find("upstream_timeout"), std::string::npos) << all;
  EXPECT_EQ(data_lines(all).back(), "[DONE]");
  EXPECT_EQ(access_line(r.header("x-request-id")).at("outcome").as_string(), "completed");
}

TEST_F(StreamingTest, SilentProviderIs504BeforeAnyByte) {
  const auto r = http_request(gateway_->port(), "POST", "/v1/chat/completions",
                              body(R"(,"mock":{"first_byte_delay_ms":3000})"), auth());
  EXPECT_EQ(r.status, 504u);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "upstream_timeout");
}

TEST_F(StreamingTest, ProviderErrorStatusOnAStreamIsPassedThroughAsJson) {
  const auto r = http_request(gateway_->port(), "POST", "/v1/chat/completions",
                              body(R"(,"mock":{"fail_status":429})"), auth());
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "mock_failure");
  EXPECT_EQ(access_line(r.header("x-request-id")).at("outcome").as_string(), "upstream_error");
}

TEST_F(StreamingTest, ClientDisconnectCancelsTheUpstreamRequestPromptly) {
  const auto before = mock_stats().at("streams_aborted").as_int64();
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"mock":{"completion_tokens":500,"chunk_delay_ms":20})"), auth());
  r.read_until("tok2 ");
  const std::string id = r.header("x-request-id");
  r.close();
  const auto closed = std::chrono::steady_clock::now();
  std::int64_t aborted = before;
  while (aborted == before && std::chrono::steady_clock::now() - closed < std::chrono::seconds(2)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    aborted = mock_stats().at("streams_aborted").as_int64();
  }
  const auto took = std::chrono::steady_clock::now() - closed;
  EXPECT_EQ(aborted, before + 1);
  // 100 ms for the gateway, plus up to one 20 ms chunk delay for the mock to notice.
  EXPECT_LT(took, std::chrono::milliseconds(100 + 20 + 30));
  const auto log = access_line(id);
  EXPECT_EQ(log.at("outcome").as_string(), "client_disconnect");
  EXPECT_GE(std::stoi(std::string(log.at("output_tokens").as_string())), 3);
}

TEST_F(StreamingTest, SlowReaderPausesTheUpstreamAndMemoryStaysBounded) {
  const auto rss_before = rss_kib(gateway_->process().pid());
  const auto aborted_before = mock_stats().at("streams_aborted").as_int64();
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"mock":{"completion_tokens":400000})"), auth());
  r.set_receive_buffer(4096);
  // About 60 MB of events upstream, far more than loopback socket buffers hold (a few MB);
  // read 1 byte per ms for 1.5 s.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    r.read_some(1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const auto stats = mock_stats();
  EXPECT_EQ(stats.at("active_streams").as_int64(), 1) << "the mock is blocked writing, not finished";
  EXPECT_EQ(stats.at("streams_completed").as_int64(), 0);
  const auto rss_after = rss_kib(gateway_->process().pid());
#ifndef TOLLGATE_SANITIZED  // ASan's quarantine keeps freed memory resident: RSS says nothing there
  EXPECT_LT(rss_after - rss_before, 4 * 1024) << "gateway RSS grew by " << rss_after - rss_before << " KiB";
#else
  (void)rss_after;
  (void)rss_before;
#endif
  // Leaving while the gateway is blocked writing to us ends the provider's stream too.
  r.close();
  const auto closed = std::chrono::steady_clock::now();
  while (mock_stats().at("streams_aborted").as_int64() == aborted_before &&
         std::chrono::steady_clock::now() - closed < std::chrono::seconds(3)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(mock_stats().at("streams_aborted").as_int64(), aborted_before + 1);
  EXPECT_LT(std::chrono::steady_clock::now() - closed, std::chrono::seconds(1));
}

TEST_F(StreamingTest, ProviderWithoutUsageIsCountedExactlyOnTheMock) {
  StreamingResponse r(gateway_->port(), "/v1/chat/completions",
                      body(R"(,"mock":{"completion_tokens":37,"no_usage":true,"sse_comments":true})"), auth());
  const std::string all = r.read_rest();
  EXPECT_EQ(streamed_text(all), mock_text(37));
  EXPECT_NE(all.find(": keep-alive"), std::string::npos) << "comments are relayed";
  const auto log = access_line(r.header("x-request-id"));
  EXPECT_EQ(log.at("token_source").as_string(), "counted");
  EXPECT_EQ(log.at("output_tokens").as_string(), "37");
}

TEST_F(StreamingTest, CompletionsStreamAndDowngradeHeader) {
  StreamingResponse r(gateway_->port(), "/v1/completions",
                      R"({"model":"mock-chat","stream":true,"prompt":"Say hi","max_tokens":4})", auth());
  EXPECT_EQ(r.header("x-tollgate-downgraded-from"), "mock-chat");
  EXPECT_EQ(streamed_text(r.read_rest()), mock_text(4));
}

}  // namespace
}  // namespace tollgate::testing
