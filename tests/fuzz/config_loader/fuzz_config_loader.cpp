// libFuzzer target for the config loader. The input is the gateway file, optionally followed
// by tenant files, each part separated by a line "---8<---": part 1 is /fuzz/tenants.yaml,
// later parts are /fuzz/tenants.d/NN.yaml. Any input must give a config or at least one error,
// never a crash, and no message may contain a provider secret.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "tollgate/config/load.hpp"

namespace {

constexpr std::string_view kSeparator = "\n---8<---\n";
constexpr std::string_view kSecret = "sk-FUZZ-SECRET";

void fail(const char* what) {
  std::fprintf(stderr, "invariant violated: %s\n", what);
  std::abort();
}

tollgate::config::FileMap split_files(std::string_view input, std::string_view& gateway) {
  tollgate::config::FileMap files;
  std::size_t part = 0;
  while (true) {
    const auto cut = input.find(kSeparator);
    const std::string_view text = input.substr(0, cut);
    if (part == 0) {
      gateway = text;
    } else if (part == 1) {
      files["tenants.yaml"] = std::string(text);
    } else {
      char name[32];
      std::snprintf(name, sizeof name, "tenants.d/%02zu.yaml", part);
      files[name] = std::string(text);
    }
    if (cut == std::string_view::npos) break;
    input.remove_prefix(cut + kSeparator.size());
    ++part;
  }
  return files;
}

// `secret_may_appear`: the input itself contains the secret text, so an echo is no leak.
void check_diagnostics(const std::vector<tollgate::config::Diagnostic>& list, bool secret_may_appear) {
  for (const auto& d : list) {
    if (d.line < 1 || d.column < 1) fail("diagnostic position must be 1-based");
    if (d.message.empty() || d.file.empty()) fail("diagnostic without file or message");
    if (!secret_may_appear && d.to_string().find(kSecret) != std::string::npos) fail("secret in a diagnostic");
  }
}

void check_config(const tollgate::config::Config& c) {
  for (const auto& [name, model] : c.models) {
    if (c.providers.count(model.provider) == 0) fail("model with an unknown provider");
  }
  for (const auto& tenant : c.policy.tenants) {
    if (c.policy.plans.count(tenant.plan) == 0) fail("tenant with an unknown plan");
  }
  for (const auto& [hash, ref] : c.policy.key_index) {
    if (ref.tenant >= c.policy.tenants.size()) fail("key index: bad tenant");
    const auto& keys = c.policy.tenants[ref.tenant].keys;
    if (ref.key >= keys.size()) fail("key index: bad key");
    const auto& sha = keys[ref.key].sha256;
    if (hash != std::string(reinterpret_cast<const char*>(sha.data()), sha.size())) fail("key index: wrong hash");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view gateway;
  const auto files = split_files(input, gateway);
  const tollgate::config::EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (!name.empty() && name.front() == 'K') return std::string(kSecret);
    return std::nullopt;
  };
  const auto result = tollgate::config::load_from_strings(gateway, "/fuzz/tollgate.yaml", files, env);
  if ((result.config == nullptr) == result.errors.empty()) fail("need a config or an error, not both or neither");
  const bool secret_in_input = input.find(kSecret) != std::string_view::npos;
  check_diagnostics(result.errors, secret_in_input);
  check_diagnostics(result.warnings, secret_in_input);
  if (result.config) check_config(*result.config);
  return 0;
}
