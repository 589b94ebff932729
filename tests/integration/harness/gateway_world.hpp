#pragma once
// Test harness: a real mock upstream process and a real gateway process on free loopback
// ports, with a generated config and freshly generated API keys.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "child_process.hpp"

namespace tollgate::testing {

// A directory removed at the end of the test (with its parent, which holds nothing else but
// what configs in it name as ../something).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  void write(const std::string& name, const std::string& content) const;

 private:
  std::filesystem::path root_;
  std::filesystem::path path_;
};

class MockUpstream {
 public:
  explicit MockUpstream(std::vector<std::string> extra_args = {});
  std::uint16_t port() const { return port_; }
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
};

class GatewayProcess {
 public:
  // Starts `tollgate --config config_file` and waits for its "listening" line.
  explicit GatewayProcess(const std::filesystem::path& config_file, std::map<std::string, std::string> env = {});
  std::uint16_t port() const { return port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  ChildProcess& process() { return *process_; }

 private:
  std::unique_ptr<ChildProcess> process_;
  std::uint16_t port_ = 0;
  std::uint16_t admin_port_ = 0;
};

// A port nothing listens on (bound and released; good enough on loopback for a test).
std::uint16_t unused_port();

// A fresh API key and the YAML key entry for it.
struct TestKey {
  std::string key;
  std::string yaml_entry(const std::string& name, const std::string& extra = {}) const;
};
TestKey make_key();

std::string tollgate_binary();
std::string mock_upstream_binary();

}  // namespace tollgate::testing
