// tollgate: flags -> config -> server -> run.
#include <iostream>
#include <string>
#include <exception>
#include <vector>

#include "tollgate/cli/commands.hpp"
#include "tollgate/config/load.hpp"
#include "tollgate/core/log.hpp"
#include "tollgate/server/server.hpp"

namespace {

// Loads and validates the configuration, logging every diagnostic. Null when invalid.
std::shared_ptr<const tollgate::config::Config> load_config(const std::string& path) {
  auto result = tollgate::config::load(path);
  for (const auto& warning : result.warnings) tollgate::log::warn(warning.to_string());
  for (const auto& error : result.errors) tollgate::log::error(error.to_string());
  return result.config;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace tollgate;
  const auto flags = cli::parse_flags(std::vector<std::string>(argv + 1, argv + argc), std::cerr);
  if (!flags) return 2;
  switch (flags->command) {
    case cli::Command::help: cli::print_usage(std::cout); return 0;
    case cli::Command::version: return cli::run_version(std::cout);
    case cli::Command::check: return cli::run_check(*flags, std::cout, std::cerr);
    case cli::Command::keygen: return cli::run_keygen(*flags, std::cout, std::cerr);
    case cli::Command::hash_key: return cli::run_hash_key(std::cin, std::cout, std::cerr);
    case cli::Command::serve: break;
  }

  auto config = load_config(flags->config_path);
  if (!config) {
    log::error("invalid configuration; not starting", {{"config", flags->config_path}});
    return 1;
  }
  try {
    return server::run(std::move(config), [path = flags->config_path] { return load_config(path); });
  } catch (const std::exception& e) {
    // Start-up failures (a port in use, an unusable limits store URL); never a secret.
    log::error("cannot start", {{"error", e.what()}});
    return 1;
  }
}
