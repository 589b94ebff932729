// Every file shipped in conf/ loads with zero errors (STYLE rule 14), and says what it claims.
#include <gtest/gtest.h>

#include <filesystem>

#include "tollgate/config/load.hpp"

namespace tollgate::config {
namespace {

const std::filesystem::path kConfDir = TOLLGATE_CONF_DIR;

EnvLookup fake_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    if (name == "OPENAI_API_KEY") return "sk-test";
    return std::nullopt;
  };
}

TEST(ShippedConf, LoadsWithoutErrorsOrWarnings) {
  const LoadResult r = load(kConfDir / "tollgate.yaml", fake_env());
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  for (const auto& d : r.warnings) ADD_FAILURE() << d.to_string();
  ASSERT_NE(r.config, nullptr);
  EXPECT_EQ(r.config->tenants_path, (kConfDir / "tenants.yaml").lexically_normal().string());
}

TEST(ShippedConf, EveryYamlFileIsReachedFromTheGatewayFile) {
  // A YAML file in conf/ that the gateway file does not name would never be validated above.
  for (const auto& entry : std::filesystem::directory_iterator(kConfDir)) {
    const auto ext = entry.path().extension().string();
    if (ext != ".yaml" && ext != ".yml") continue;
    const auto name = entry.path().filename().string();
    EXPECT_TRUE(name == "tollgate.yaml" || name == "tenants.yaml") << "unchecked file in conf/: " << name;
  }
}

TEST(ShippedConf, DemoKeyMatchesTheDocumentedKey) {
  const LoadResult r = load(kConfDir / "tollgate.yaml", fake_env());
  ASSERT_NE(r.config, nullptr);
  // SHA-256 of "tg_demo0000_DemoKeyForLocalTryingOnly0000000".
  const std::string hex = "c6cef83d16e0fb5590f130857e305a0e69a027b8b0212996b88c1bcb0b0a55a2";
  std::string raw;
  for (std::size_t i = 0; i < hex.size(); i += 2) raw.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  const auto it = r.config->policy.key_index.find(raw);
  ASSERT_NE(it, r.config->policy.key_index.end());
  const Tenant& tenant = r.config->policy.tenants[it->second.tenant];
  EXPECT_EQ(tenant.name, "demo");
  EXPECT_EQ(tenant.plan, "pro");
  EXPECT_EQ(tenant.keys[it->second.key].prefix, "tg_demo0000");
}

TEST(ShippedConf, MissingProviderKeyIsAWarningOnly) {
  const LoadResult r = load(kConfDir / "tollgate.yaml", [](std::string_view) { return std::optional<std::string>{}; });
  EXPECT_TRUE(r.errors.empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].message.find("OPENAI_API_KEY"), std::string::npos);
  ASSERT_NE(r.config, nullptr);
  EXPECT_FALSE(r.config->providers.at("openai").api_key);
  EXPECT_FALSE(r.config->providers.at("demo").api_key);
}

}  // namespace
}  // namespace tollgate::config
