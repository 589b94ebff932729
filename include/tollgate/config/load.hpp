#pragma once
// Config stage: reads and validates the gateway YAML and the tenant policies it names.
// Runs at start-up, for `--check`, and on reload, always off the event loops (file I/O).
#include <filesystem>
#include <functional>
#include <map>
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

// In-memory files for load_from_strings: path -> contents. A relative path is taken relative
// to the gateway file's directory; a directory exists when some file lies inside it.
using FileMap = std::map<std::string, std::string>;

// Same validation as load(), but the gateway file's text is `gateway_yaml` and every file it
// names (tenants file or directory) is looked up in `files` instead of on disk. No file I/O.
// For tests and the fuzzer; `gateway_file` (made absolute) names the gateway file in diagnostics.
LoadResult load_from_strings(std::string_view gateway_yaml, const std::filesystem::path& gateway_file,
                             const FileMap& files, const EnvLookup& env);

}  // namespace tollgate::config
