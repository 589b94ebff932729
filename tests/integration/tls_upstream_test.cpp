// Integration: HTTPS providers. The mock upstream serves TLS with a certificate made for this
// run (DNS name "localhost" only); the gateway must verify the chain and the host name.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"

namespace tollgate::testing {
namespace {

namespace json = boost::json;

class TlsUpstreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const auto key = (dir_->path() / "mock.key").string();
    const auto cert = (dir_->path() / "mock.crt").string();
    ChildProcess openssl({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                          "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext",
                          "subjectAltName=DNS:localhost"});
    ASSERT_EQ(openssl.wait(std::chrono::seconds(30)), 0) << openssl.output();
    mock_ = new MockUpstream({"--tls-cert", cert, "--tls-key", key});
    key_ = new TestKey(make_key());
    const std::string port = std::to_string(mock_->port());
    dir_->write("tollgate.yaml",
                "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 1\n"
                "providers:\n"
                "  trusted: {base_url: \"https://localhost:" + port + "/v1\", ca_file: mock.crt}\n"
                "  untrusted: {base_url: \"https://localhost:" + port + "/v1\"}\n"
                "  wrong-name: {base_url: \"https://127.0.0.1:" + port + "/v1\", ca_file: mock.crt}\n"
                "models:\n"
                "  trusted: {provider: trusted, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  untrusted: {provider: untrusted, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "  wrong-name: {provider: wrong-name, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n"
                "tenants: tenants.yaml\n");
    dir_->write("tenants.yaml", "plans: {open: {}}\ntenants:\n  acme:\n    plan: open\n    keys:\n" +
                                    key_->yaml_entry("prod"));
    gateway_ = new GatewayProcess(dir_->path() / "tollgate.yaml");
  }

  static void TearDownTestSuite() {
    delete gateway_;
    delete mock_;
    delete key_;
    delete dir_;
  }

  static HttpResponse chat(const std::string& model) {
    return http_request(gateway_->port(), "POST", "/v1/chat/completions",
                        R"({"model":")" + model + R"(","messages":[{"role":"user","content":"hi"}]})",
                        {{"authorization", "Bearer " + key_->key}});
  }

  static inline TempDir* dir_ = nullptr;
  static inline MockUpstream* mock_ = nullptr;
  static inline GatewayProcess* gateway_ = nullptr;
  static inline TestKey* key_ = nullptr;
};

TEST_F(TlsUpstreamTest, VerifiedProviderIsReachedOverTls) {
  const auto r = chat("trusted");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("object").as_string(), "chat.completion");
}

TEST_F(TlsUpstreamTest, TlsConnectionsAreKeptAlive) {
  ASSERT_EQ(chat("trusted").status, 200u);
  const auto ca = (dir_->path() / "mock.crt").string();
  const auto connections = [&] {
    return json::parse(https_get(mock_->port(), "/mock/stats", ca).body).at("connections").as_int64();
  };
  const auto before = connections();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(chat("trusted").status, 200u);
  // Five more requests reuse the pooled TLS connection; the stats request itself is one more.
  EXPECT_LE(connections() - before, 1);
}

TEST_F(TlsUpstreamTest, UntrustedCertificateIs502) {
  const auto r = chat("untrusted");
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("error").at("code").as_string(), "upstream_error");
  EXPECT_EQ(chat("trusted").status, 200u) << "one bad provider does not affect another";
}

TEST_F(TlsUpstreamTest, HostNameMismatchIs502) {
  const auto r = chat("wrong-name");
  EXPECT_EQ(r.status, 502u) << r.body;
}

}  // namespace
}  // namespace tollgate::testing
