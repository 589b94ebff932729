#pragma once
// Config stage: reads and validates the gateway YAML and the tenant policies it names.
// Runs at start-up, for `--check`, and on reload, always off the event loops (file I/O).
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/config/config.hpp"

namespace tollgate::config {

// One validation error, printed as `file:line:col: message` (line and column are 1-based).
struct Diagnostic {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string to_string() const;
};

// Looks up an environment variable (injected so tests need not touch the real environment).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();

struct LoadResult {
  std::shared_ptr<const Config> config;  // null when errors is non-empty
  std::vector<Diagnostic> errors;        // every error found, in file order
  std::vector<Diagnostic> warnings;      // e.g. a provider's api_key_env is not set
};

// Loads and validates `gateway_file` and the tenants file/directory it names. Never throws
// for bad input: every problem becomes a Diagnostic, and all of them are reported at once.
LoadResult load(const std::filesystem::path& gateway_file, const EnvLookup& env = process_env());

}  // namespace tollgate::config
