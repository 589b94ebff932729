// Integration: graceful shutdown (SPEC section 2) of the real gateway over real sockets. On
// SIGTERM it stops accepting, lets open streams finish within shutdown_grace_ms, ends the rest
// with one SSE error event and [DONE] (or a 503 for a request still waiting on its provider),
// settles and emits an event for every admitted request, and exits 0.
#include <signal.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;
constexpr int kStreams = 20;

class ShutdownWorld {
 public:
  explicit ShutdownWorld(int grace_ms) {
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_.port()) + "/v1";
    dir_.write("tollgate.yaml",
               "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
               "limits: {local: {state_dir: state}}\n"
               "usage: {file: {path: usage.jsonl}}\n"
               "server: {shutdown_grace_ms: " + std::to_string(grace_ms) + "}\n"
               "providers:\n  mock: {base_url: \"" + mock + "\", first_byte_timeout_ms: 10000}\n"
               "models:\n  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
               "tenants: tenants.yaml\n");
    dir_.write("tenants.yaml", "plans:\n  p: {}\ntenants:\n  acme:\n    plan: p\n    keys:\n" +
                                   key_.yaml_entry("prod"));
    gateway_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml");
  }

  Headers auth() const { return {{"authorization", "Bearer " + key_.key}}; }
  std::uint16_t port() const { return gateway_->port(); }
  ChildProcess& process() { return gateway_->process(); }

  // Opens a stream of `tokens` chunks `delay_ms` apart and reads until its first content chunk.
  std::unique_ptr<StreamingResponse> open_stream(int tokens, int delay_ms) {
    auto stream = std::make_unique<StreamingResponse>(
        port(), "/v1/chat/completions",
        R"({"model":"mock-chat","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"completion_tokens":)" +
            std::to_string(tokens) + R"(,"chunk_delay_ms":)" + std::to_string(delay_ms) + "}}",
        auth(), std::chrono::seconds(20));
    EXPECT_EQ(stream->status(), 200u);
    stream->read_until("tok0");
    return stream;
  }

  std::vector<json::object> events() const {
    std::vector<json::object> out;
    std::ifstream in(dir_.path() / "usage.jsonl");
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line).as_object());
    return out;
  }

 private:
  TempDir dir_;
  MockUpstream mock_;
  TestKey key_ = make_key();
  std::unique_ptr<GatewayProcess> gateway_;
};

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

TEST(Shutdown, StreamsOpenAtSigtermFinishWithinTheGracePeriod) {
  ShutdownWorld world(10'000);
  std::vector<std::unique_ptr<StreamingResponse>> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(world.open_stream(10, 100));
  ASSERT_EQ(::kill(world.process().pid(), SIGTERM), 0);

  // Stops accepting at once.
  ASSERT_TRUE(world.process().wait_for_line(std::regex("shutting down"), std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_THROW(http_request(world.port(), "GET", "/v1/models", {}, world.auth()), std::exception);

  for (auto& stream : streams) {
    const std::string body = stream->read_rest();
    const auto data = data_lines(body);
    ASSERT_FALSE(data.empty());
    EXPECT_EQ(data.back(), "[DONE]");
    EXPECT_EQ(body.find("\"error\""), std::string::npos) << body;
    EXPECT_NE(body.find("tok9"), std::string::npos);
  }
  EXPECT_EQ(world.process().wait(std::chrono::seconds(10)), 0) << world.process().output();

  const auto events = world.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kStreams));
  for (const auto& event : events) {
    EXPECT_EQ(event.at("outcome").as_string(), "completed");
    EXPECT_EQ(event.at("output_tokens").as_int64(), 10);
  }
}

TEST(Shutdown, StreamsStillOpenAtTheGraceLimitEndWithAnErrorEventAndAreBilled) {
  ShutdownWorld world(500);
  std::vector<std::unique_ptr<StreamingResponse>> streams;
  for (int i = 0; i < kStreams; ++i) streams.push_back(world.open_stream(400, 50));  // 20 s each
  const auto signalled = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(world.process().pid(), SIGTERM), 0);

  for (auto& stream : streams) {
    const std::string body = stream->read_rest();
    const auto data = data_lines(body);
    ASSERT_GE(data.size(), 2u);
    EXPECT_EQ(data.back(), "[DONE]");
    const auto error = json::parse(data[data.size() - 2]).as_object();
    EXPECT_EQ(error.at("error").at("code").as_string(), "server_shutting_down") << data[data.size() - 2];
    EXPECT_TRUE(stream->done());
  }
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(4));
  EXPECT_EQ(world.process().wait(std::chrono::seconds(10)), 0) << world.process().output();

  const auto events = world.events();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kStreams));
  for (const auto& event : events) {
    EXPECT_EQ(event.at("outcome").as_string(), "upstream_error");
    // Billed for what was delivered: at least the first chunk, far fewer than 400.
    EXPECT_GE(event.at("output_tokens").as_int64(), 1);
    EXPECT_LT(event.at("output_tokens").as_int64(), 400);
    EXPECT_GT(event.at("cost_nano_usd").as_int64(), 0);
  }
}

TEST(Shutdown, ARequestWaitingForItsProviderAtTheGraceLimitGetsA503AndAnEvent) {
  ShutdownWorld world(300);
  HttpResponse response;
  std::thread client([&] {
    response = http_request(world.port(), "POST", "/v1/chat/completions",
                            R"({"model":"mock-chat","messages":[{"role":"user","content":"hi"}],)"
                            R"("mock":{"first_byte_delay_ms":5000}})",
                            world.auth());
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the request is at the provider
  ASSERT_EQ(::kill(world.process().pid(), SIGTERM), 0);
  client.join();
  EXPECT_EQ(response.status, 503u) << response.body;
  EXPECT_EQ(json::parse(response.body).at("error").at("code").as_string(), "server_shutting_down");
  EXPECT_EQ(world.process().wait(std::chrono::seconds(10)), 0) << world.process().output();

  const auto events = world.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].at("status").as_int64(), 503);
  EXPECT_EQ(events[0].at("outcome").as_string(), "upstream_error");
}

}  // namespace
}  // namespace tollgate::testing
