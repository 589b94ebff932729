#pragma once
// Helpers shared by the config tests: in-memory loads under /cfg and diagnostics as strings.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/config/load.hpp"

namespace tollgate::config::testing {

inline constexpr const char* kGatewayPath = "/cfg/tollgate.yaml";

// A gateway file with two models and a tenants file, for cases about tenant files.
inline constexpr std::string_view kGateway =
    "providers:\n"
    "  openai: {base_url: https://api.openai.com/v1}\n"
    "models:\n"
    "  gpt-4o: {provider: openai, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10}\n"
    "  gpt-4o-mini: {provider: openai, input_usd_per_mtok: 0.15, output_usd_per_mtok: 0.60}\n"
    "tenants: tenants.yaml\n";

inline EnvLookup no_env() {
  return [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
}

inline LoadResult load_text(std::string_view gateway, const FileMap& files = {}, const EnvLookup& env = no_env()) {
  return load_from_strings(gateway, kGatewayPath, files, env);
}

inline std::vector<std::string> strings(const std::vector<Diagnostic>& list) {
  std::vector<std::string> out;
  for (const auto& d : list) out.push_back(d.to_string());
  return out;
}

inline std::string hex64(char c) { return std::string(64, c); }

}  // namespace tollgate::config::testing
