// Integration: the real gateway and the real mock upstream as separate processes on loopback,
// driven over real sockets. One world for the suite; each test uses its own keys/requests.
#include <signal.h>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kProviderSecret = "sk-test-provider-secret-0123456789";

class ProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    mock_ = new MockUpstream();
    keys_ = new std::map<std::string, TestKey>;
    for (const char* name : {"acme", "revoked", "expired", "basic", "frozen"}) (*keys_)[name] = make_key();
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_->port()) + "/v1";
    dir_->write("tollgate.yaml",
                "listen: 127.0.0.1:0\n"
                "admin_listen: 127.0.0.1:0\n"
                "threads: 1\n"
                "limits: {local: {state_dir: state}}\n"
                "usage: {file: {path: usage.jsonl}}\n"
                "server: {max_body_bytes: 65536, max_header_bytes: 8192, header_timeout_ms: 500,"
                " idle_timeout_ms: 3000}\n"
                "providers:\n"
                "  mock: {base_url: \"" + mock + "\", api_key_env: TG_TEST_PROVIDER_KEY,"
                " first_byte_timeout_ms: 700, connect_timeout_ms: 1000}\n"
                "  nokey: {base_url: \"" + mock + "\", api_key_env: TG_TEST_UNSET_KEY}\n"
                "  dead: {base_url: \"http://127.0.0.1:" + std::to_string(unused_port()) + "/v1\","
                " connect_timeout_ms: 1000}\n"
                "models:\n"
                "  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
                "  mock-mini: {provider: mock, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
                "  renamed: {provider: mock, upstream_model: real-name, input_usd_per_mtok: 1,"
                " output_usd_per_mtok: 1}\n"
                "  nokey-model: {provider: nokey, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  dead-model: {provider: dead, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "tenants: tenants.yaml\n");
    dir_->write("tenants.yaml",
                "plans:\n"
                "  open: {}\n"
                "  basic: {models: [mock-mini], downgrade: {mock-chat: mock-mini}}\n"
                "tenants:\n"
                "  acme:\n"
                "    plan: open\n"
                "    keys:\n" +
                    key("acme").yaml_entry("prod") + key("revoked").yaml_entry("old", "status: revoked") +
                    key("expired").yaml_entry("temp", "expires: 2020-01-31") +
                "  basic-co:\n"
                "    plan: basic\n"
                "    keys:\n" +
                    key("basic").yaml_entry("prod") +
                "  frozen:\n"
                "    plan: open\n"
                "    status: suspended\n"
                "    keys:\n" +
                    key("frozen").yaml_entry("prod"));
    gateway_ = new GatewayProcess(dir_->path() / "tollgate.yaml", {{"TG_TEST_PROVIDER_KEY", kProviderSecret}});
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete mock_;
    delete keys_;
    delete dir_;
  }

  static const TestKey& key(const std::string& name) { return keys_->at(name); }
  static Headers auth(const std::string& name) { return {{"authorization", "Bearer " + key(name).key}}; }

  static HttpResponse post(const std::string& target, const std::string& body, const Headers& headers) {
    return http_request(gateway_->port(), "POST", target, body, headers);
  }
  static HttpResponse chat(const std::string& body, const std::string& who = "acme") {
    return post("/v1/chat/completions", body, auth(who));
  }
  static json::object mock_last() {
    return json::parse(http_request(mock_->port(), "GET", "/mock/last").body).as_object();
  }

  // Asserts an OpenAI-shaped error with this status, type and code.
  static void expect_error(const HttpResponse& r, unsigned status, const std::string& type, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_FALSE(r.header("x-request-id").empty());
    const auto body = json::parse(r.body).as_object();
    const auto& error = body.at("error").as_object();
    EXPECT_EQ(error.at("type").as_string(), type) << r.body;
    EXPECT_EQ(error.at("code").as_string(), code) << r.body;
    EXPECT_TRUE(error.contains("message"));
    EXPECT_TRUE(error.contains("param"));
  }

  static inline TempDir* dir_ = nullptr;
  static inline MockUpstream* mock_ = nullptr;
  static inline GatewayProcess* gateway_ = nullptr;
  static inline std::map<std::string, TestKey>* keys_ = nullptr;
};

const std::string kHello = R"({"model":"mock-chat","messages":[{"role":"user","content":"Hello there"}]})";

TEST_F(ProxyTest, ChatCompletionIsProxiedWithUsage) {
  const auto r = chat(kHello);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_FALSE(r.header("x-request-id").empty());
  const auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(std::string(body.at("choices").as_array()[0].at("message").at("content").as_string()).substr(0, 5), "tok0 ");
  EXPECT_GT(body.at("usage").at("completion_tokens").as_int64(), 0);
}

TEST_F(ProxyTest, CompletionsAndEmbeddingsAreProxied) {
  const auto c = post("/v1/completions", R"({"model":"mock-chat","prompt":"Say hi","max_tokens":3})", auth("acme"));
  ASSERT_EQ(c.status, 200u) << c.body;
  EXPECT_EQ(json::parse(c.body).at("choices").as_array()[0].at("text").as_string(), "tok0 tok1 tok2 ");
  const auto e = post("/v1/embeddings", R"({"model":"mock-mini","input":["a","b"]})", auth("acme"));
  ASSERT_EQ(e.status, 200u) << e.body;
  EXPECT_EQ(json::parse(e.body).at("data").as_array().size(), 2u);
}

TEST_F(ProxyTest, ForwardsTheProviderKeyNotTheClientKey) {
  const std::string body = R"({"model":"mock-chat","max_tokens":5,"messages":[{"role":"user","content":"Hello there"}]})";
  ASSERT_EQ(chat(body).status, 200u);
  const auto last = mock_last();
  const auto& headers = last.at("headers").as_object();
  EXPECT_EQ(headers.at("authorization").as_string(), std::string("Bearer ") + kProviderSecret);
  EXPECT_EQ(last.at("body").as_string(), body) << "the body must be forwarded byte for byte";
  EXPECT_EQ(last.at("target").as_string(), "/v1/chat/completions");
}

TEST_F(ProxyTest, XApiKeyHeaderAuthenticates) {
  EXPECT_EQ(post("/v1/chat/completions", kHello, {{"x-api-key", key("acme").key}}).status, 200u);
}

TEST_F(ProxyTest, UnknownFieldsPassThroughUntouched) {
  // max_tokens is given, so the gateway has no allowance to write (see admission_test).
  const std::string body =
      R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}],"temperature":0.2,"max_tokens":9,"vendor_extra":{"a":[1,2]}})";
  ASSERT_EQ(chat(body).status, 200u);
  EXPECT_EQ(mock_last().at("body").as_string(), body);
}

TEST_F(ProxyTest, UpstreamModelNameIsRewrittenInTheForwardedBody) {
  ASSERT_EQ(chat(R"({"model":"renamed","messages":[{"role":"user","content":"x"}]})").status, 200u);
  EXPECT_EQ(json::parse(mock_last().at("body").as_string()).at("model").as_string(), "real-name");
}

TEST_F(ProxyTest, ModelsListShowsOnlyWhatThePlanAllows) {
  const auto open = http_request(gateway_->port(), "GET", "/v1/models", {}, auth("acme"));
  ASSERT_EQ(open.status, 200u) << open.body;
  EXPECT_EQ(json::parse(open.body).at("data").as_array().size(), 5u);
  const auto basic = http_request(gateway_->port(), "GET", "/v1/models", {}, auth("basic"));
  const auto data = json::parse(basic.body).at("data").as_array();
  ASSERT_EQ(data.size(), 1u) << basic.body;
  EXPECT_EQ(data[0].at("id").as_string(), "mock-mini");
  EXPECT_EQ(data[0].at("object").as_string(), "model");
}

TEST_F(ProxyTest, DowngradeRewritesTheModelAndSaysSo) {
  const auto r = chat(kHello, "basic");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("x-tollgate-downgraded-from"), "mock-chat");
  EXPECT_EQ(json::parse(mock_last().at("body").as_string()).at("model").as_string(), "mock-mini");
}

TEST_F(ProxyTest, AuthenticationFailuresAre401) {
  const std::string type = "authentication_error";
  expect_error(post("/v1/chat/completions", kHello, {}), 401, type, "invalid_api_key");
  expect_error(post("/v1/chat/completions", kHello, {{"authorization", "Bearer nonsense"}}), 401, type,
               "invalid_api_key");
  expect_error(post("/v1/chat/completions", kHello, {{"authorization", "Bearer " + make_key().key}}), 401, type,
               "invalid_api_key");
  expect_error(chat(kHello, "revoked"), 401, type, "invalid_api_key");
  expect_error(chat(kHello, "expired"), 401, type, "invalid_api_key");
}

TEST_F(ProxyTest, UnknownKeyErrorNeverEchoesTheSecret) {
  const auto stranger = make_key();
  const auto r = post("/v1/chat/completions", kHello, {{"authorization", "Bearer " + stranger.key}});
  EXPECT_EQ(r.body.find(stranger.key.substr(12)), std::string::npos) << r.body;
}

TEST_F(ProxyTest, SuspendedTenantIs403) { expect_error(chat(kHello, "frozen"), 403, "permission_error", "tenant_suspended"); }

TEST_F(ProxyTest, ModelErrors) {
  expect_error(chat(R"({"model":"gpt-9","messages":[{"role":"user","content":"x"}]})"), 404, "not_found_error", "model_not_found");
  expect_error(chat(R"({"model":"renamed","messages":[{"role":"user","content":"x"}]})", "basic"), 403, "permission_error", "model_not_allowed");
}

TEST_F(ProxyTest, BadBodiesAre400AndTheGatewayKeepsServing) {
  const std::vector<std::string> bad = {
      "{not json",
      "[1,2,3]",
      R"({"messages":[{"role":"user","content":"x"}]})",
      R"({"model":42,"messages":[{"role":"user","content":"x"}]})",
      R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}],"max_tokens":"ten"})",
      R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}],"stream":"yes"})",
      "{\"model\":\"mock-chat\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
      R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}]} trailing)",
      "",
  };
  for (const auto& body : bad) {
    expect_error(chat(body), 400, "invalid_request_error", "invalid_request");
  }
  EXPECT_EQ(chat(kHello).status, 200u);
}

TEST_F(ProxyTest, UnknownRouteIs404AndWrongMethodIs405) {
  expect_error(http_request(gateway_->port(), "GET", "/v1/nothing-here", {}, auth("acme")), 404, "not_found_error",
               "not_found");
  expect_error(http_request(gateway_->port(), "GET", "/v1/chat/completions", {}, auth("acme")), 405,
               "invalid_request_error", "method_not_allowed");
  expect_error(http_request(gateway_->port(), "POST", "/v1/models", "{}", auth("acme")), 405,
               "invalid_request_error", "method_not_allowed");
}

TEST_F(ProxyTest, OversizedBodyIs413) {
  const std::string big = R"({"model":"mock-chat","messages":[{"role":"user","content":")" +
                          std::string(70'000, 'a') + "\"}]}";
  expect_error(chat(big), 413, "invalid_request_error", "request_too_large");
  EXPECT_EQ(chat(kHello).status, 200u);
}

TEST_F(ProxyTest, OversizedHeadersAre431) {
  expect_error(post("/v1/chat/completions", kHello, {{"x-big", std::string(9000, 'h')}}), 431,
               "invalid_request_error", "headers_too_large");
  Headers many = auth("acme");
  for (int i = 0; i < 101; ++i) many.emplace_back("x-h" + std::to_string(i), "v");
  expect_error(post("/v1/chat/completions", kHello, many), 431, "invalid_request_error", "headers_too_large");
}

TEST_F(ProxyTest, SlowlorisConnectionIsClosedAfterTheHeaderTimeout) {
  HttpConnection slow(gateway_->port());
  slow.write_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n");  // never finishes the head
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(slow.closed_by_peer(std::chrono::seconds(5)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_EQ(chat(kHello).status, 200u);
}

TEST_F(ProxyTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  HttpConnection silent(gateway_->port());
  EXPECT_TRUE(silent.closed_by_peer(std::chrono::seconds(5)));
}

TEST_F(ProxyTest, KeepAliveOnBothSides) {
  const auto before = json::parse(http_request(mock_->port(), "GET", "/mock/stats").body).at("connections").as_int64();
  HttpConnection connection(gateway_->port());
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(connection.request("POST", "/v1/chat/completions", kHello, auth("acme")).status, 200u);
  }
  const auto after = json::parse(http_request(mock_->port(), "GET", "/mock/stats").body).at("connections").as_int64();
  // The stats request itself is one connection; the gateway may open at most one more.
  EXPECT_LE(after - before, 2);
}

// The request parser first takes what the first read brought in: two requests in one write
// are answered in order, and a request whose head and body arrive in pieces is still read whole.
TEST_F(ProxyTest, PipelinedAndPiecemealRequestsAreReadWhole) {
  const std::string raw = "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + key("acme").key +
                          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(kHello.size()) +
                          "\r\n\r\n" + kHello;
  HttpConnection pipelined(gateway_->port());
  pipelined.write_raw(raw + raw);
  for (int i = 0; i < 2; ++i) {
    const auto r = pipelined.read_response();
    EXPECT_EQ(r.status, 200u) << i << ": " << r.body;
    EXPECT_NE(r.body.find("chat.completion"), std::string::npos) << i;
  }

  HttpConnection piecemeal(gateway_->port());
  const std::size_t cuts[] = {10, raw.size() - kHello.size() - 3, raw.size() - 5};
  std::size_t at = 0;
  for (const std::size_t cut : cuts) {
    piecemeal.write_raw(raw.substr(at, cut - at));
    at = cut;
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  piecemeal.write_raw(raw.substr(at));
  const auto r = piecemeal.read_response();
  EXPECT_EQ(r.status, 200u) << r.body;
}

TEST_F(ProxyTest, ExpectContinueIsAnswered) {
  const auto r = post("/v1/chat/completions", kHello,
                      {{"authorization", "Bearer " + key("acme").key}, {"expect", "100-continue"}});
  EXPECT_EQ(r.status, 200u) << r.body;
}

TEST_F(ProxyTest, ProviderErrorStatusIsPassedThrough) {
  const auto r = chat(R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}],"mock":{"fail_status":503}})");
  EXPECT_EQ(r.status, 503u);
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "mock_failure");
}

TEST_F(ProxyTest, ProviderResetBeforeAnyByteIs502) {
  expect_error(chat(R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}],"mock":{"reset_after":0}})"), 502, "api_error",
               "upstream_error");
  EXPECT_EQ(chat(kHello).status, 200u);
}

TEST_F(ProxyTest, ProviderDownIs502) {
  expect_error(chat(R"({"model":"dead-model","messages":[{"role":"user","content":"x"}]})"), 502, "api_error", "upstream_error");
}

TEST_F(ProxyTest, ProviderSilentPastFirstByteTimeoutIs504) {
  const auto start = std::chrono::steady_clock::now();
  expect_error(chat(R"({"model":"mock-chat","messages":[{"role":"user","content":"x"}],"mock":{"first_byte_delay_ms":3000}})"), 504, "api_error",
               "upstream_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
}

TEST_F(ProxyTest, ProviderWithoutItsKeyIs502AndNamesTheVariable) {
  const auto r = chat(R"({"model":"nokey-model","messages":[{"role":"user","content":"x"}]})");
  expect_error(r, 502, "api_error", "upstream_error");
  EXPECT_NE(r.body.find("TG_TEST_UNSET_KEY"), std::string::npos);
}

TEST_F(ProxyTest, AdminEndpointsAnswer) {
  EXPECT_EQ(http_request(gateway_->admin_port(), "GET", "/healthz").status, 200u);
  EXPECT_EQ(http_request(gateway_->admin_port(), "GET", "/readyz").status, 200u);
}

TEST_F(ProxyTest, NoSecretInTheLogs) {
  for (const auto& [name, k] : *keys_) chat(kHello, name);
  // The access line follows the response; wait for one before scanning everything logged.
  ASSERT_TRUE(gateway_->process().wait_for_line(std::regex(R"("msg":"request")"), std::chrono::seconds(5)));
  const std::string log = gateway_->process().output();
  EXPECT_EQ(log.find(kProviderSecret), std::string::npos);
  for (const auto& [name, k] : *keys_) EXPECT_EQ(log.find(k.key.substr(12)), std::string::npos) << name;
}

}  // namespace
}  // namespace tollgate::testing
