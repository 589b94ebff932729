// Integration: the tollgate binary's command line (SPEC section 2), run as a real process.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"
#include "tollgate/auth/key_hash.hpp"

namespace tollgate::testing {
namespace {

namespace fs = std::filesystem;

struct Run {
  int exit_code;
  std::string output;
};

Run run(std::vector<std::string> args, const std::string& stdin_text = {}) {
  // stdin is fed through a file because ChildProcess owns only stdout/stderr.
  TempDir dir;
  dir.write("stdin", stdin_text);
  std::string command = "exec";
  for (const auto& a : args) command += " '" + a + "'";
  command += " < '" + (dir.path() / "stdin").string() + "'";
  ChildProcess child({"/bin/sh", "-c", command});
  const auto code = child.wait(std::chrono::seconds(30));
  return Run{code.value_or(-1), child.output()};
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Cli, CheckPassesOnTheShippedExamples) {
  const auto r = run({tollgate_binary(), "--check", "--config", std::string(TOLLGATE_SOURCE_DIR) + "/conf/tollgate.yaml"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("OK"), std::string::npos) << r.output;
}

TEST(Cli, CheckFailsWithFileLineColumnOnABrokenCopy) {
  TempDir dir;
  const fs::path conf = std::string(TOLLGATE_SOURCE_DIR) + "/conf";
  for (const auto& entry : fs::directory_iterator(conf)) fs::copy(entry.path(), dir.path() / entry.path().filename());
  std::string text = read_file(dir.path() / "tollgate.yaml");
  text += "\nbogus_key: 1\n";
  dir.write("tollgate.yaml", text);
  const auto r = run({tollgate_binary(), "--check", "--config", (dir.path() / "tollgate.yaml").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(tollgate\.yaml:\d+:\d+: .*bogus_key)"))) << r.output;
}

TEST(Cli, GatewayRefusesToStartOnAnInvalidConfig) {
  TempDir dir;
  dir.write("tollgate.yaml", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nserver: {max_body_bytes: -1}\n"
                             "tenants: missing.yaml\n");
  const auto r = run({tollgate_binary(), "--config", (dir.path() / "tollgate.yaml").string()});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex(R"(tollgate\.yaml:3:\d+: )"))) << r.output;
  EXPECT_EQ(r.output.find("\"msg\":\"listening\""), std::string::npos);
}

TEST(Cli, KeygenPrintsAKeyOnceAndItsEntry) {
  const auto r = run({tollgate_binary(), "keygen", "--tenant", "acme", "--name", "ci"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m, std::regex(R"(^(tg_[A-Za-z0-9]{8})_[A-Za-z0-9]{32}\n)"))) << r.output;
  const std::string key = m[0].str().substr(0, m[0].length() - 1);
  EXPECT_NE(r.output.find("name: ci"), std::string::npos);
  EXPECT_NE(r.output.find("prefix: " + m[1].str()), std::string::npos);
  EXPECT_NE(r.output.find("sha256: " + auth::to_hex(auth::sha256(key))), std::string::npos);
}

TEST(Cli, HashKeyIgnoresOneTrailingNewline) {
  const std::string key = "tg_abcdefgh_0123456789abcdefghijABCDEFGHIJ01";
  const std::string hex = auth::to_hex(auth::sha256(key));
  EXPECT_EQ(run({tollgate_binary(), "hash-key"}, key + "\n").output, hex + "\n");
  EXPECT_EQ(run({tollgate_binary(), "hash-key"}, key + "\r\n").output, hex + "\n");
  EXPECT_EQ(run({tollgate_binary(), "hash-key"}, key).output, hex + "\n");
}

TEST(Cli, VersionAndUsage) {
  EXPECT_NE(run({tollgate_binary(), "--version"}).output.find("tollgate "), std::string::npos);
  EXPECT_EQ(run({tollgate_binary(), "--no-such-flag"}).exit_code, 2);
}

TEST(Cli, SigtermStopsTheGatewayWithExitZero) {
  TempDir dir;
  dir.write("tollgate.yaml", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\ntenants: tenants.yaml\n");
  dir.write("tenants.yaml", "plans: {}\ntenants: {}\n");
  GatewayProcess gateway(dir.path() / "tollgate.yaml");
  EXPECT_EQ(http_request(gateway.admin_port(), "GET", "/healthz").status, 200u);
  EXPECT_EQ(gateway.process().stop(SIGTERM, std::chrono::seconds(10)), 0) << gateway.process().output();
}

}  // namespace
}  // namespace tollgate::testing

namespace tollgate::testing {
namespace {

TEST(Reload, SighupAddsAKeyAndAnInvalidEditKeepsTheOldPolicy) {
  TempDir dir;
  MockUpstream mock;
  const TestKey first = make_key();
  const TestKey second = make_key();
  dir.write("tollgate.yaml", "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
                             "providers: {mock: {base_url: \"http://127.0.0.1:" + std::to_string(mock.port()) +
                                 "/v1\"}}\n"
                             "models: {m: {provider: mock, input_usd_per_mtok: 1, output_usd_per_mtok: 1}}\n"
                             "tenants: tenants.yaml\n");
  const std::string head = "plans: {open: {}}\ntenants:\n  acme:\n    plan: open\n    keys:\n";
  dir.write("tenants.yaml", head + first.yaml_entry("one"));
  GatewayProcess gateway(dir.path() / "tollgate.yaml");
  const auto models = [&](const TestKey& key) {
    return http_request(gateway.port(), "GET", "/v1/models", {}, {{"authorization", "Bearer " + key.key}}).status;
  };
  // Polls until `key` gets `status` (reload is asynchronous), for at most one second.
  const auto eventually = [&](const TestKey& key, unsigned status) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (models(key) != status && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return models(key);
  };
  EXPECT_EQ(models(first), 200u);
  EXPECT_EQ(models(second), 401u);

  dir.write("tenants.yaml", head + first.yaml_entry("one") + second.yaml_entry("two"));
  kill(gateway.process().pid(), SIGHUP);
  EXPECT_EQ(eventually(second, 200), 200u);

  dir.write("tenants.yaml", head + first.yaml_entry("one") + "      - {name: broken\n");
  kill(gateway.process().pid(), SIGHUP);
  ASSERT_TRUE(gateway.process().wait_for_line(std::regex(R"(tenants\.yaml:\d+:\d+: )"), std::chrono::seconds(5)))
      << gateway.process().output();
  EXPECT_EQ(models(second), 200u) << "a failed reload changes nothing";
  EXPECT_EQ(models(first), 200u);
}

}  // namespace
}  // namespace tollgate::testing
