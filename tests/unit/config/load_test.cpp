// Good configs: defaults, every key read, relative paths, plan/override merging, the key
// index, tenant directories, provider keys from the environment, and loading from disk.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "test_support.hpp"

namespace tollgate::config {
namespace {

using namespace std::chrono;
using testing::hex64;
using testing::kGateway;
using testing::load_text;

std::string raw_hash(char hex_digit) {
  const int v = hex_digit <= '9' ? hex_digit - '0' : hex_digit - 'a' + 10;
  return std::string(32, static_cast<char>(v * 17));
}

const Config& expect_config(const LoadResult& r) {
  for (const auto& d : r.errors) ADD_FAILURE() << d.to_string();
  static const Config kEmpty;
  return r.config ? *r.config : kEmpty;
}

TEST(Load, ProviderHttp2DefaultsToAutoAndReadsEachMode) {
  // The result is held: the Config lives inside it.
  const LoadResult r = load_text("providers:\n  a: {base_url: https://x}\n  b: {base_url: http://y, http2: off}\n"
                                 "  c: {base_url: http://z, http2: auto}\n");
  const Config& c = expect_config(r);
  EXPECT_EQ(c.providers.at("a").http2, Http2Mode::auto_);
  EXPECT_EQ(c.providers.at("b").http2, Http2Mode::off);
  EXPECT_EQ(c.providers.at("c").http2, Http2Mode::auto_);
  EXPECT_EQ(c.providers.at("a").http2_ping_interval, milliseconds{10'000});
}

TEST(Load, EmptyGatewayFileGivesDefaults) {
  const LoadResult r = load_text("");
  const Config& c = expect_config(r);
  EXPECT_EQ(c.source_file, "/cfg/tollgate.yaml");
  EXPECT_EQ(c.listen.host, "0.0.0.0");
  EXPECT_EQ(c.listen.port, 8080);
  EXPECT_EQ(c.admin_listen.host, "127.0.0.1");
  EXPECT_EQ(c.admin_listen.port, 9464);
  EXPECT_EQ(c.threads, 0u);
  EXPECT_FALSE(c.tls);
  EXPECT_EQ(c.limits.store, StoreKind::local);
  EXPECT_EQ(c.limits.local_state_dir, "/var/state");
  EXPECT_EQ(c.limits.redis_url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(c.limits.redis_timeout, milliseconds{50});
  EXPECT_EQ(c.limits.reservation_ttl, seconds{600});
  EXPECT_EQ(c.limits.on_store_error_rate_limits, RateLimitFallback::local);
  EXPECT_EQ(c.limits.on_store_error_budgets, BudgetFallback::closed);
  EXPECT_EQ(c.usage.sink, SinkKind::file);
  EXPECT_EQ(c.usage.format, EventFormat::tollgate);
  EXPECT_EQ(c.usage.file_path, "/var/usage.jsonl");
  EXPECT_EQ(c.usage.kafka_brokers, "127.0.0.1:9092");
  EXPECT_EQ(c.usage.kafka_topic, "llm.usage");
  EXPECT_EQ(c.usage.kafka_spool_dir, "/var/spool");
  EXPECT_TRUE(c.usage.kafka_properties.empty());
  EXPECT_EQ(c.server.max_body_bytes, 4'194'304u);
  EXPECT_EQ(c.server.max_header_bytes, 61'440u);
  EXPECT_EQ(c.server.max_header_fields, 100u);
  EXPECT_EQ(c.server.idle_timeout, milliseconds{75'000});
  EXPECT_EQ(c.server.header_timeout, milliseconds{10'000});
  EXPECT_EQ(c.server.shutdown_grace, milliseconds{30'000});
  EXPECT_EQ(c.server.http2, tollgate::http::Http2Limits{});
  EXPECT_EQ(c.server.http2.max_concurrent_streams, 100u);
  EXPECT_EQ(c.server.http2.max_resets_per_interval, 200u);
  EXPECT_TRUE(c.providers.empty());
  EXPECT_TRUE(c.tenants_path.empty());
  EXPECT_EQ(testing::strings(r.warnings),
            std::vector<std::string>{"/cfg/tollgate.yaml:1:1: no tenants file configured; every key is refused"});
}

TEST(Load, ReadsEveryGatewayKey) {
  const std::string gateway = R"(
listen: "[::1]:0"
admin_listen: localhost:9000
threads: 4
tls: {cert: tls/cert.pem, key: /etc/tollgate/key.pem}
limits:
  store: redis
  local: {state_dir: state/}
  redis: {url: "redis://cache.internal:6380/2", timeout_ms: 25}
  reservation_ttl_s: 120
  on_store_error: {rate_limits: closed, budgets: open}
usage:
  sink: kafka
  format: cloudevents
  file: {path: usage.jsonl}
  kafka:
    brokers: k1:9092,k2:9092
    topic: billing
    spool_dir: /var/spool/tollgate
    properties: {compression.type: zstd, linger.ms: 5}
server:
  max_body_bytes: 1000
  max_header_bytes: 2000
  max_header_fields: 30
  idle_timeout_ms: 1
  header_timeout_ms: 2
  shutdown_grace_ms: 3
  http2:
    max_concurrent_streams: 7
    flood_interval_ms: 500
    max_resets_per_interval: 9
    max_settings_per_interval: 10
    max_pings_per_interval: 11
    max_continuations: 2
providers:
  local:
    type: openai
    base_url: http://10.0.0.1:8000/
    connect_timeout_ms: 11
    first_byte_timeout_ms: 12
    stream_idle_timeout_ms: 13
    max_tokens_field: max_tokens
    http2: on
    http2_ping_interval_ms: 14
models:
  small: {provider: local, input_usd_per_mtok: "0.000000001", output_usd_per_mtok: 12.5, max_output_tokens: 512,
          upstream_model: llama-3-8b}
)";
  const LoadResult r = load_text(gateway);
  const Config& c = expect_config(r);
  EXPECT_EQ(c.listen.host, "::1");
  EXPECT_EQ(c.listen.port, 0);
  EXPECT_EQ(c.admin_listen.host, "localhost");
  EXPECT_EQ(c.admin_listen.port, 9000);
  EXPECT_EQ(c.threads, 4u);
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->cert_file, "/cfg/tls/cert.pem");
  EXPECT_EQ(c.tls->key_file, "/etc/tollgate/key.pem");
  EXPECT_EQ(c.limits.store, StoreKind::redis);
  EXPECT_EQ(c.limits.local_state_dir, "/cfg/state");
  EXPECT_EQ(c.limits.redis_url, "redis://cache.internal:6380/2");
  EXPECT_EQ(c.limits.redis_timeout, milliseconds{25});
  EXPECT_EQ(c.limits.reservation_ttl, seconds{120});
  EXPECT_EQ(c.limits.on_store_error_rate_limits, RateLimitFallback::closed);
  EXPECT_EQ(c.limits.on_store_error_budgets, BudgetFallback::open);
  EXPECT_EQ(c.usage.sink, SinkKind::kafka);
  EXPECT_EQ(c.usage.format, EventFormat::cloudevents);
  EXPECT_EQ(c.usage.file_path, "/cfg/usage.jsonl");
  EXPECT_EQ(c.usage.kafka_brokers, "k1:9092,k2:9092");
  EXPECT_EQ(c.usage.kafka_topic, "billing");
  EXPECT_EQ(c.usage.kafka_spool_dir, "/var/spool/tollgate");
  EXPECT_EQ(c.usage.kafka_properties,
            (std::map<std::string, std::string>{{"compression.type", "zstd"}, {"linger.ms", "5"}}));
  EXPECT_EQ(c.server.max_body_bytes, 1000u);
  EXPECT_EQ(c.server.max_header_bytes, 2000u);
  EXPECT_EQ(c.server.max_header_fields, 30u);
  EXPECT_EQ(c.server.idle_timeout, milliseconds{1});
  EXPECT_EQ(c.server.header_timeout, milliseconds{2});
  EXPECT_EQ(c.server.shutdown_grace, milliseconds{3});
  EXPECT_EQ(c.server.http2.max_concurrent_streams, 7u);
  EXPECT_EQ(c.server.http2.interval, milliseconds{500});
  EXPECT_EQ(c.server.http2.max_resets_per_interval, 9u);
  EXPECT_EQ(c.server.http2.max_settings_per_interval, 10u);
  EXPECT_EQ(c.server.http2.max_pings_per_interval, 11u);
  EXPECT_EQ(c.server.http2.max_continuations, 2u);
  const Provider& p = c.providers.at("local");
  EXPECT_EQ(p.name, "local");
  EXPECT_EQ(p.type, "openai");
  EXPECT_EQ(p.base_url.scheme, "http");
  EXPECT_EQ(p.base_url.host, "10.0.0.1");
  EXPECT_EQ(p.base_url.port, 8000);
  EXPECT_EQ(p.base_url.path, "");
  EXPECT_TRUE(p.api_key_env.empty());
  EXPECT_FALSE(p.api_key);
  EXPECT_EQ(p.connect_timeout, milliseconds{11});
  EXPECT_EQ(p.first_byte_timeout, milliseconds{12});
  EXPECT_EQ(p.stream_idle_timeout, milliseconds{13});
  EXPECT_EQ(p.max_tokens_field, "max_tokens");
  EXPECT_EQ(p.http2, Http2Mode::on);
  EXPECT_EQ(p.http2_ping_interval, milliseconds{14});
  const Model& m = c.models.at("small");
  EXPECT_EQ(m.name, "small");
  EXPECT_EQ(m.provider, "local");
  EXPECT_EQ(m.upstream_model, "llama-3-8b");
  EXPECT_EQ(m.input_price.nano_usd, 1);
  EXPECT_EQ(m.output_price.nano_usd, 12'500'000'000);
  EXPECT_EQ(m.max_output_tokens.value, 512);
}

TEST(Load, PricesAreExactAndUpstreamModelDefaultsToName) {
  const LoadResult r = load_text(std::string(kGateway), {{"tenants.yaml", ""}});
  const Config& c = expect_config(r);
  const Model& m = c.models.at("gpt-4o-mini");
  EXPECT_EQ(m.upstream_model, "gpt-4o-mini");
  EXPECT_EQ(m.input_price.nano_usd, 150'000'000);
  EXPECT_EQ(m.output_price.nano_usd, 600'000'000);
  EXPECT_EQ(m.max_output_tokens.value, 16'384);
  EXPECT_EQ(c.models.at("gpt-4o").output_price.nano_usd, 10'000'000'000);
}

TEST(Load, RelativePathsAreRelativeToTheFileThatNamesThem) {
  const std::string gateway = "limits: {local: {state_dir: ./a/../state/}}\n"
                              "tenants: ../policies/main.yaml\n";
  const LoadResult r = load_text(gateway, {{"/policies/main.yaml", ""}});
  const Config& c = expect_config(r);
  EXPECT_EQ(c.limits.local_state_dir, "/cfg/state");
  EXPECT_EQ(c.tenants_path, "/policies/main.yaml");
}

const std::string kPolicy = R"(
plans:
  free:
    requests_per_minute: 10
    requests_per_day: 100
    tokens_per_minute: 20000
    max_tokens_per_request: 2000
    max_concurrent: 5
    budget_usd: {daily: 0.50, monthly: 15.00}
    models: [gpt-4o-mini]
    downgrade: {gpt-4o: gpt-4o-mini}
    downgrade_at: 0.9
  open: {}
tenants:
  acme:
    plan: free
    overrides: {requests_per_minute: 60, budget_usd: {monthly: 20}, soft_alert_at: 0.5}
    keys:
      - {name: prod, prefix: tg_a1b2c3d4, sha256: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,
         expires: 2027-06-30}
      - {name: old, prefix: tg_a1b2c3d5, sha256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb,
         status: revoked}
  globex:
    plan: open
    status: suspended
    keys:
      - {name: k, prefix: tg_zzzzzzzz, sha256: cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc}
)";

TEST(Load, PlansAndOverridesAreMerged) {
  const LoadResult r = load_text(std::string(kGateway), {{"tenants.yaml", kPolicy}});
  const Config& c = expect_config(r);
  const Policy& p = c.policy;
  ASSERT_EQ(p.plans.size(), 2u);
  const Plan& free = p.plans.at("free");
  EXPECT_EQ(free.limits.requests_per_minute, 10);
  EXPECT_EQ(free.limits.budget_daily, NanoUsd{500'000'000});
  EXPECT_EQ(free.limits.budget_monthly, NanoUsd{15'000'000'000});
  EXPECT_EQ(free.limits.soft_alert_at, 0.8);
  EXPECT_EQ(free.limits.downgrade_at, 0.9);
  EXPECT_EQ(free.models, (std::set<std::string>{"gpt-4o-mini"}));
  EXPECT_EQ(free.downgrade, (std::map<std::string, std::string>{{"gpt-4o", "gpt-4o-mini"}}));
  EXPECT_FALSE(p.plans.at("open").models);
  EXPECT_FALSE(p.plans.at("open").limits.requests_per_minute);

  ASSERT_EQ(p.tenants.size(), 2u);
  const Tenant& acme = p.tenants[0];
  EXPECT_EQ(acme.name, "acme");
  EXPECT_EQ(acme.plan, "free");
  EXPECT_FALSE(acme.suspended);
  EXPECT_EQ(acme.limits.requests_per_minute, 60);
  EXPECT_EQ(acme.limits.requests_per_day, 100);
  EXPECT_EQ(acme.limits.tokens_per_minute, 20000);
  EXPECT_EQ(acme.limits.max_tokens_per_request, 2000);
  EXPECT_EQ(acme.limits.max_concurrent, 5);
  EXPECT_EQ(acme.limits.budget_daily, NanoUsd{500'000'000});
  EXPECT_EQ(acme.limits.budget_monthly, NanoUsd{20'000'000'000});
  EXPECT_EQ(acme.limits.soft_alert_at, 0.5);
  EXPECT_EQ(acme.limits.downgrade_at, 0.9);
  EXPECT_EQ(acme.models, free.models);
  EXPECT_EQ(acme.downgrade, free.downgrade);
  ASSERT_EQ(acme.keys.size(), 2u);
  EXPECT_EQ(acme.keys[0].name, "prod");
  EXPECT_EQ(acme.keys[0].prefix, "tg_a1b2c3d4");
  EXPECT_FALSE(acme.keys[0].revoked);
  EXPECT_EQ(acme.keys[0].expires, sys_days{year{2027} / June / 30});
  EXPECT_TRUE(acme.keys[1].revoked);
  EXPECT_FALSE(acme.keys[1].expires);

  const Tenant& globex = p.tenants[1];
  EXPECT_TRUE(globex.suspended);
  EXPECT_FALSE(globex.models);
  EXPECT_FALSE(globex.limits.budget_daily);
}

TEST(Load, KeyIndexMapsRawHashesToKeys) {
  const LoadResult r = load_text(std::string(kGateway), {{"tenants.yaml", kPolicy}});
  const Config& c = expect_config(r);
  const auto& index = c.policy.key_index;
  ASSERT_EQ(index.size(), 3u);
  const auto check = [&](char digit, std::size_t tenant, std::size_t key) {
    auto it = index.find(raw_hash(digit));
    ASSERT_NE(it, index.end()) << digit;
    EXPECT_EQ(it->second.tenant, tenant);
    EXPECT_EQ(it->second.key, key);
  };
  check('a', 0, 0);
  check('b', 0, 1);
  check('c', 1, 0);
  EXPECT_EQ(c.policy.tenants[0].keys[0].sha256[0], 0xaa);
}

TEST(Load, TenantsDirectoryLoadsEveryYamlFileSortedByName) {
  const std::string gateway = std::string(kGateway.substr(0, kGateway.find("tenants:"))) + "tenants: policies/\n";
  const FileMap files = {
      {"policies/00-plans.yaml", "plans: {free: {}, pro: {}}\n"},
      {"policies/20-globex.yml", "tenants: {globex: {plan: pro}}\n"},
      {"policies/10-acme.yaml",
       "tenants:\n  acme:\n    plan: free\n    keys: [{name: a, prefix: tg_aaaaaaaa, sha256: " + hex64('d') + "}]\n"},
      {"policies/README.md", "not yaml"},
      {"policies/.hidden.yaml", "not: [valid"},
      {"policies/nested/deeper.yaml", "not: [valid"},
  };
  const LoadResult r = load_text(gateway, files);
  const Config& c = expect_config(r);
  EXPECT_EQ(c.tenants_path, "/cfg/policies");
  ASSERT_EQ(c.policy.tenants.size(), 2u);
  EXPECT_EQ(c.policy.tenants[0].name, "acme");
  EXPECT_EQ(c.policy.tenants[1].name, "globex");
  EXPECT_EQ(c.policy.plans.size(), 2u);
  EXPECT_EQ(c.policy.key_index.size(), 1u);
  EXPECT_TRUE(r.warnings.empty());
}

TEST(Load, EmptyTenantsDirectoryIsAWarning) {
  const LoadResult r = load_text("tenants: t\n", {{"t/notes.txt", ""}});
  EXPECT_NE(r.config, nullptr);
  EXPECT_EQ(testing::strings(r.warnings),
            std::vector<std::string>{"/cfg/tollgate.yaml:1:10: tenants: directory \"/cfg/t\" has no *.yaml files; "
                                     "every key is refused"});
}

TEST(Load, ProviderKeyComesFromTheEnvironment) {
  const std::string gateway = R"(providers:
  a: {base_url: "https://a.example/v1", api_key_env: A_KEY}
  b: {base_url: "https://b.example/v1", api_key_env: B_KEY}
  c: {base_url: "https://c.example/v1", api_key_env: C_KEY}
)";
  const EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "A_KEY") return "sk-SECRET-A";
    if (name == "C_KEY") return "";
    return std::nullopt;
  };
  const LoadResult r = load_text(gateway, {}, env);
  const Config& c = expect_config(r);
  EXPECT_EQ(c.providers.at("a").api_key, "sk-SECRET-A");
  EXPECT_EQ(c.providers.at("a").api_key_env, "A_KEY");
  EXPECT_FALSE(c.providers.at("b").api_key);
  EXPECT_FALSE(c.providers.at("c").api_key);
  EXPECT_EQ(testing::strings(r.warnings),
            (std::vector<std::string>{
                "/cfg/tollgate.yaml:1:1: no tenants file configured; every key is refused",
                "/cfg/tollgate.yaml:3:54: providers.b.api_key_env: environment variable B_KEY is not set or empty; "
                "requests to provider \"b\" will fail with 502",
                "/cfg/tollgate.yaml:4:54: providers.c.api_key_env: environment variable C_KEY is not set or empty; "
                "requests to provider \"c\" will fail with 502"}));
  for (const auto& d : r.warnings) EXPECT_EQ(d.to_string().find("SECRET"), std::string::npos);
}

TEST(Load, RedisPasswordComesFromTheEnvironment) {
  const EnvLookup env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "REDIS_PASSWORD") return "SECRET-R";
    return std::nullopt;
  };
  const LoadResult set = load_text("limits: {redis: {password_env: REDIS_PASSWORD}}\n", {}, env);
  EXPECT_EQ(expect_config(set).limits.redis_password, "SECRET-R");
  EXPECT_EQ(expect_config(set).limits.redis_password_env, "REDIS_PASSWORD");

  const LoadResult unset = load_text("limits: {redis: {password_env: NOPE}}\n", {}, env);
  EXPECT_FALSE(expect_config(unset).limits.redis_password);
  EXPECT_EQ(testing::strings(unset.warnings).back(),
            "/cfg/tollgate.yaml:1:32: limits.redis.password_env: environment variable NOPE is not set or empty; "
            "connecting to Redis without AUTH");

  const LoadResult bad = load_text("limits: {redis: {password_env: \"not a name\"}}\n", {}, env);
  ASSERT_EQ(bad.errors.size(), 1u);
  EXPECT_NE(bad.errors[0].message.find("expected an environment variable name"), std::string::npos);
}

TEST(Load, SecretsNeverAppearInErrors) {
  // Even when the rest of the file is broken, the resolved key stays out of every message.
  const std::string gateway = "providers:\n  a: {base_url: ftp://x, api_key_env: A_KEY, bogus: 1}\n";
  const LoadResult r = load_text(gateway, {}, [](std::string_view) { return std::optional<std::string>{"sk-SECRET"}; });
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(r.errors.size(), 2u);
  for (const auto& d : r.errors) EXPECT_EQ(d.to_string().find("SECRET"), std::string::npos);
}

TEST(Load, NeverThrowsOnOddInput) {
  for (const std::string& text : std::vector<std::string>{"\t", "[", "{", "- - -", "!!binary x", "&a [*a]", "? [a]: b", "a: *nope",
                                 std::string("listen: \0x", 10), "providers: {p: {base_url: http://x}}\n" +
                                     std::string(5000, '[')}) {
    LoadResult r;
    EXPECT_NO_THROW(r = load_text(text)) << text;
    EXPECT_TRUE(r.config != nullptr || !r.errors.empty()) << text;
  }
}

class DiskTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "tollgate-config-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void write(const std::string& name, const std::string& text) {
    std::filesystem::create_directories((dir_ / name).parent_path());
    std::ofstream(dir_ / name) << text;
  }
  std::filesystem::path dir_;
};

TEST_F(DiskTest, LoadsFilesAndTenantDirectoryFromDisk) {
  write("etc/tollgate.yaml", std::string(kGateway.substr(0, kGateway.find("tenants:"))) + "tenants: ../policies\n");
  write("policies/a.yaml", "plans: {free: {}}\n");
  write("policies/b.yaml", "tenants: {acme: {plan: free}}\n");
  write("policies/c.txt", "ignored");
  const LoadResult r = load(dir_ / "etc/tollgate.yaml", testing::no_env());
  const Config& c = expect_config(r);
  EXPECT_EQ(c.source_file, (dir_ / "etc/tollgate.yaml").string());
  EXPECT_EQ(c.tenants_path, (dir_ / "policies").string());
  ASSERT_EQ(c.policy.tenants.size(), 1u);
  EXPECT_EQ(c.policy.tenants[0].plan, "free");
}

TEST_F(DiskTest, MissingGatewayFileIsADiagnostic) {
  const auto path = dir_ / "nope.yaml";
  const LoadResult r = load(path, testing::no_env());
  EXPECT_EQ(r.config, nullptr);
  EXPECT_EQ(testing::strings(r.errors),
            std::vector<std::string>{path.string() + ":1:1: cannot read \"" + path.string() +
                                     "\": No such file or directory"});
}

TEST_F(DiskTest, ErrorsInATenantFileNameThatFile) {
  write("tollgate.yaml", std::string(kGateway));
  write("tenants.yaml", "tenants:\n  acme: {plan: nope}\n");
  const LoadResult r = load(dir_ / "tollgate.yaml", testing::no_env());
  EXPECT_EQ(testing::strings(r.errors),
            std::vector<std::string>{(dir_ / "tenants.yaml").string() + ":2:16: tenants.acme.plan: unknown plan \"nope\""});
}

TEST(Diagnostic, ToString) {
  EXPECT_EQ((Diagnostic{"a.yaml", 3, 7, "boom"}).to_string(), "a.yaml:3:7: boom");
}

}  // namespace
}  // namespace tollgate::config
