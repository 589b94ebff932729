#include "gateway_world.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fstream>
#include <random>
#include <regex>
#include <stdexcept>

#include "tollgate/auth/key_hash.hpp"
#include "tollgate/auth/keygen.hpp"

namespace tollgate::testing {

namespace fs = std::filesystem;

// Files live one level down (root/conf), so paths a config names relative to its own
// directory, like the default `../var/state`, stay inside this test's root.
TempDir::TempDir() {
  std::random_device rd;
  root_ = fs::temp_directory_path() / ("tollgate-test-" + std::to_string(getpid()) + "-" + std::to_string(rd()));
  path_ = root_ / "conf";
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(root_, ignored);
}

void TempDir::write(const std::string& name, const std::string& content) const {
  std::ofstream out(path_ / name, std::ios::binary);
  out << content;
}

std::string tollgate_binary() { return TOLLGATE_BINARY; }
std::string mock_upstream_binary() { return MOCK_UPSTREAM_BINARY; }

MockUpstream::MockUpstream(std::vector<std::string> extra_args) {
  std::vector<std::string> argv{mock_upstream_binary(), "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process_ = std::make_unique<ChildProcess>(argv);
  const auto m = process_->wait_for_line(std::regex(R"(listening 127\.0\.0\.1:(\d+))"), std::chrono::seconds(20));
  if (!m) throw std::runtime_error("mock upstream did not start:\n" + process_->output());
  port_ = static_cast<std::uint16_t>(std::stoi((*m)[1]));
}

GatewayProcess::GatewayProcess(const fs::path& config_file, std::map<std::string, std::string> env) {
  process_ = std::make_unique<ChildProcess>(std::vector<std::string>{tollgate_binary(), "--config", config_file.string()},
                                            std::move(env));
  const auto m = process_->wait_for_line(
      std::regex(R"re("msg":"listening","api":"127\.0\.0\.1:(\d+)","admin":"127\.0\.0\.1:(\d+)")re"),
      std::chrono::seconds(30));
  if (!m) throw std::runtime_error("gateway did not start:\n" + process_->output());
  port_ = static_cast<std::uint16_t>(std::stoi((*m)[1]));
  admin_port_ = static_cast<std::uint16_t>(std::stoi((*m)[2]));
}

std::uint16_t unused_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

TestKey make_key() { return TestKey{auth::generate_key().key}; }

std::string TestKey::yaml_entry(const std::string& name, const std::string& extra) const {
  return "      - {name: " + name + ", prefix: " + key.substr(0, 11) + ", sha256: " + auth::to_hex(auth::sha256(key)) +
         (extra.empty() ? "" : ", " + extra) + "}\n";
}

}  // namespace tollgate::testing
