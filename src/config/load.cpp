// Public entry points of the config stage (tollgate/config/load.hpp).
#include "tollgate/config/load.hpp"

#include <cstdlib>

#include "file_source.hpp"
#include "loader.hpp"
#include "yaml_reader.hpp"

namespace tollgate::config {
namespace {

std::filesystem::path absolute_gateway_path(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return detail::normalize_path(ec ? path : abs);
}

}  // namespace

std::string Diagnostic::to_string() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    // getenv is safe here: config loads before the workers start, or on the reload thread.
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

LoadResult load(const std::filesystem::path& gateway_file, const EnvLookup& env) {
  const auto files = detail::disk_files();
  return detail::load_with(*files, absolute_gateway_path(gateway_file), env);
}

LoadResult load_from_strings(std::string_view gateway_yaml, const std::filesystem::path& gateway_file,
                             const FileMap& files, const EnvLookup& env) {
  const auto path = absolute_gateway_path(gateway_file);
  FileMap all = files;
  all[path.string()] = std::string(gateway_yaml);
  const auto source = detail::memory_files(all, path.parent_path());
  return detail::load_with(*source, path, env);
}

}  // namespace tollgate::config
