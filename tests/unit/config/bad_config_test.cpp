// Every bad-config case names the exact diagnostics it expects, file:line:col included.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace tollgate::config {
namespace {

using testing::hex64;
using testing::kGateway;

struct BadCase {
  std::string name;
  std::string gateway;  // the text of /cfg/tollgate.yaml
  FileMap files;        // other files, relative to /cfg
  std::vector<std::string> errors;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

const std::string kGw(kGateway);
const std::string kGwDir = "providers:\n"
                           "  openai: {base_url: https://api.openai.com/v1}\n"
                           "models:\n"
                           "  gpt-4o: {provider: openai, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10}\n"
                           "tenants: tenants.d\n";

// A tenants file whose only key is written by `key_lines` (indented for a list item's fields).
std::string tenants_with_key(const std::string& key_lines) {
  return "plans: {free: {}}\n"       // 1
         "tenants:\n"                // 2
         "  acme:\n"                 // 3
         "    plan: free\n"          // 4
         "    keys:\n"               // 5
         "      - name: prod\n" +    // 6
         key_lines;                  // 7..
}

std::string price_model(const std::string& input) {
  return "providers:\n"
         "  p: {base_url: http://x}\n"
         "models:\n"
         "  m:\n"
         "    provider: p\n"
         "    input_usd_per_mtok: " + input + "\n"
         "    output_usd_per_mtok: 1\n";
}

const std::string kPrice = "models.m.input_usd_per_mtok: expected a non-negative USD amount with at most 9 decimals, got ";

std::vector<BadCase> cases() {
  return {
      {"unknown_top_level_key", "listn: 0.0.0.0:80\n", {}, {"/cfg/tollgate.yaml:1:1: unknown key \"listn\""}},
      {"unknown_nested_key", "server:\n  max_bodybytes: 10\n", {},
       {"/cfg/tollgate.yaml:2:3: unknown key \"server.max_bodybytes\""}},
      {"string_where_int", "server:\n  max_body_bytes: lots\n", {},
       {"/cfg/tollgate.yaml:2:19: server.max_body_bytes: expected a positive integer, got \"lots\""}},
      {"mapping_where_int", "server:\n  max_header_fields: {a: 1}\n", {},
       {"/cfg/tollgate.yaml:2:22: server.max_header_fields: expected a positive integer, got a mapping"}},
      {"negative_number", "limits:\n  reservation_ttl_s: -5\n", {},
       {"/cfg/tollgate.yaml:2:22: limits.reservation_ttl_s: expected a positive integer, got \"-5\""}},
      {"zero_timeout", "server:\n  idle_timeout_ms: 0\n", {},
       {"/cfg/tollgate.yaml:2:20: server.idle_timeout_ms: expected a positive integer number of milliseconds, "
        "got \"0\""}},
      {"duration_with_unit", "server:\n  header_timeout_ms: 10s\n", {},
       {"/cfg/tollgate.yaml:2:22: server.header_timeout_ms: expected a positive integer number of milliseconds, "
        "got \"10s\""}},
      {"timeout_too_long", "providers:\n  p: {base_url: http://x, stream_idle_timeout_ms: 9999999999999}\n", {},
       {"/cfg/tollgate.yaml:2:51: providers.p.stream_idle_timeout_ms: at most 2592000000 (30 days), got "
        "\"9999999999999\""}},
      {"reservation_ttl_too_long", "limits: {reservation_ttl_s: 2592001}\n", {},
       {"/cfg/tollgate.yaml:1:29: limits.reservation_ttl_s: at most 2592000 (30 days), got \"2592001\""}},
      {"empty_value", "server:\n  shutdown_grace_ms:\n", {},
       {"/cfg/tollgate.yaml:2:3: server.shutdown_grace_ms: expected a positive integer number of milliseconds, "
        "got null"}},
      {"http2_unknown_key", "server:\n  http2: {max_streams: 10}\n", {},
       {"/cfg/tollgate.yaml:2:11: unknown key \"server.http2.max_streams\""}},
      {"http2_zero_bound", "server:\n  http2:\n    max_resets_per_interval: 0\n", {},
       {"/cfg/tollgate.yaml:3:30: server.http2.max_resets_per_interval: expected a positive integer, got \"0\""}},
      {"http2_streams_too_many", "server: {http2: {max_concurrent_streams: 4294967296}}\n", {},
       {"/cfg/tollgate.yaml:1:42: server.http2.max_concurrent_streams: at most 2147483647, got \"4294967296\""}},
      {"http2_not_a_mapping", "server: {http2: on}\n", {},
       {"/cfg/tollgate.yaml:1:17: server.http2: expected a mapping, got \"on\""}},
      {"threads_zero", "threads: 0\n", {},
       {"/cfg/tollgate.yaml:1:10: threads: expected \"auto\" or an integer in 1..1024, got \"0\""}},
      {"price_not_a_number", price_model("abc"), {}, {"/cfg/tollgate.yaml:6:25: " + kPrice + "\"abc\""}},
      {"price_negative", price_model("-1"), {}, {"/cfg/tollgate.yaml:6:25: " + kPrice + "\"-1\""}},
      {"price_exponent", price_model("1e3"), {}, {"/cfg/tollgate.yaml:6:25: " + kPrice + "\"1e3\""}},
      {"price_too_precise", price_model("\"0.0000000001\""), {}, {"/cfg/tollgate.yaml:6:25: " + kPrice + "\"0.0000000001\""}},
      {"price_missing", "providers:\n  p: {base_url: http://x}\nmodels:\n  m: {provider: p, input_usd_per_mtok: 1}\n", {},
       {"/cfg/tollgate.yaml:4:6: models.m: missing required key \"output_usd_per_mtok\""}},
      {"http2_unknown_mode", "providers:\n  p: {base_url: http://x, http2: yes}\n", {},
       {"/cfg/tollgate.yaml:2:34: providers.p.http2: expected one of auto, on, off, got \"yes\""}},
      {"url_scheme_ftp", "providers:\n  p:\n    base_url: ftp://x/v1\n", {},
       {"/cfg/tollgate.yaml:3:15: providers.p.base_url: unsupported URL scheme \"ftp\" (expected http or https)"}},
      {"url_without_host", "providers:\n  p:\n    base_url: http:///v1\n", {},
       {"/cfg/tollgate.yaml:3:15: providers.p.base_url: URL has no host"}},
      {"url_with_user_info", "providers:\n  p:\n    base_url: https://me:pw@x/v1\n", {},
       {"/cfg/tollgate.yaml:3:15: providers.p.base_url: URL must not contain user info (secrets come from the "
        "environment)"}},
      {"provider_without_base_url", "providers:\n  p:\n    type: openai\n", {},
       {"/cfg/tollgate.yaml:3:5: providers.p: missing required key \"base_url\""}},
      {"provider_type", "providers:\n  p: {type: anthropic, base_url: http://x}\n", {},
       {"/cfg/tollgate.yaml:2:13: providers.p.type: expected one of openai, got \"anthropic\""}},
      {"redis_url_scheme", "limits:\n  redis: {url: http://x:6379}\n", {},
       {"/cfg/tollgate.yaml:2:16: limits.redis.url: unsupported URL scheme \"http\" (expected redis)"}},
      {"listen_without_port", "listen: 0.0.0.0\n", {},
       {"/cfg/tollgate.yaml:1:9: listen: expected host:port, got \"0.0.0.0\""}},
      {"listen_port_70000", "listen: 0.0.0.0:70000\n", {},
       {"/cfg/tollgate.yaml:1:9: listen: port must be 0..65535 in \"0.0.0.0:70000\""}},
      {"listen_unquoted_ipv6", "listen: [::1]\n", {},
       {"/cfg/tollgate.yaml:1:9: listen: expected host:port, got a list (quote IPv6 addresses: \"[::1]:8080\")"}},
      {"listen_hostname", "admin_listen: example.com:80\n", {},
       {"/cfg/tollgate.yaml:1:15: admin_listen: expected an IPv4 address, [IPv6] address or localhost before the "
        "port, got \"example.com:80\""}},
      {"enum_store", "limits:\n  store: memcached\n", {},
       {"/cfg/tollgate.yaml:2:10: limits.store: expected one of local, redis, got \"memcached\""}},
      {"enum_sink", "usage:\n  sink: syslog\n", {},
       {"/cfg/tollgate.yaml:2:9: usage.sink: expected one of file, kafka, stdout, got \"syslog\""}},
      {"enum_format", "usage:\n  format: json\n", {},
       {"/cfg/tollgate.yaml:2:11: usage.format: expected one of tollgate, cloudevents, got \"json\""}},
      {"enum_on_store_error", "limits:\n  on_store_error:\n    budgets: maybe\n", {},
       {"/cfg/tollgate.yaml:3:14: limits.on_store_error.budgets: expected one of closed, open, got \"maybe\""}},
      {"enum_tenant_status", kGw, {{"tenants.yaml", "plans: {free: {}}\ntenants:\n  acme:\n    plan: free\n    status: paused\n"}},
       {"/cfg/tenants.yaml:5:13: tenants.acme.status: expected one of active, suspended, got \"paused\""}},
      {"enum_key_status", kGw, {{"tenants.yaml", tenants_with_key("        prefix: tg_abcd1234\n        sha256: " + hex64('a') + "\n        status: disabled\n")}},
       {"/cfg/tenants.yaml:9:17: tenants.acme.keys[0].status: expected one of active, revoked, got \"disabled\""}},
      {"model_provider_missing",
       "providers:\n  p: {base_url: http://x}\nmodels:\n  m: {provider: q, input_usd_per_mtok: 1, output_usd_per_mtok: 1}\n",
       {},
       {"/cfg/tollgate.yaml:4:17: models.m.provider: unknown provider \"q\""}},
      {"tenant_plan_missing", kGw, {{"tenants.yaml", "tenants:\n  acme:\n    plan: gold\n"}},
       {"/cfg/tenants.yaml:3:11: tenants.acme.plan: unknown plan \"gold\""}},
      {"tenant_without_plan", kGw, {{"tenants.yaml", "tenants:\n  acme:\n    status: active\n"}},
       {"/cfg/tenants.yaml:3:5: tenants.acme: missing required key \"plan\""}},
      {"plan_models_unknown", kGw, {{"tenants.yaml", "plans:\n  free:\n    models: [gpt-4o-mini, gpt-5]\n"}},
       {"/cfg/tenants.yaml:3:27: plans.free.models: unknown model \"gpt-5\""}},
      {"downgrade_target_unknown", kGw, {{"tenants.yaml", "plans:\n  free:\n    downgrade: {gpt-4o: gpt-5}\n"}},
       {"/cfg/tenants.yaml:3:25: plans.free.downgrade.gpt-4o: unknown model \"gpt-5\""}},
      {"downgrade_source_unknown", kGw, {{"tenants.yaml", "plans:\n  free:\n    downgrade: {gpt-9: gpt-4o}\n"}},
       {"/cfg/tenants.yaml:3:17: plans.free.downgrade: unknown model \"gpt-9\""}},
      {"downgrade_target_not_allowed", kGw,
       {{"tenants.yaml", "plans:\n  free:\n    models: [gpt-4o-mini]\n    downgrade: {gpt-4o-mini: gpt-4o}\n"}},
       {"/cfg/tenants.yaml:4:30: plans.free.downgrade.gpt-4o-mini: \"gpt-4o\" is not allowed by plans.free.models"}},
      {"soft_alert_at_above_one", kGw, {{"tenants.yaml", "plans:\n  free:\n    soft_alert_at: 1.5\n"}},
       {"/cfg/tenants.yaml:3:20: plans.free.soft_alert_at: expected a fraction in (0, 1], got \"1.5\""}},
      {"downgrade_at_zero", kGw, {{"tenants.yaml", "plans:\n  free:\n    downgrade_at: 0\n"}},
       {"/cfg/tenants.yaml:3:19: plans.free.downgrade_at: expected a fraction in (0, 1], got \"0\""}},
      {"budget_bad", kGw, {{"tenants.yaml", "plans:\n  free:\n    budget_usd: {daily: -1}\n"}},
       {"/cfg/tenants.yaml:3:25: plans.free.budget_usd.daily: expected a non-negative USD amount with at most 9 "
        "decimals, got \"-1\""}},
      {"override_unknown_key", kGw,
       {{"tenants.yaml", "plans: {free: {}}\ntenants:\n  acme:\n    plan: free\n    overrides: {models: [gpt-4o]}\n"}},
       {"/cfg/tenants.yaml:5:17: unknown key \"tenants.acme.overrides.models\""}},
      {"key_prefix", kGw, {{"tenants.yaml", tenants_with_key("        prefix: tg_abc\n        sha256: " + hex64('a') + "\n")}},
       {"/cfg/tenants.yaml:7:17: tenants.acme.keys[0].prefix: expected \"tg_\" followed by 8 letters or digits, got "
        "\"tg_abc\""}},
      {"key_sha256_short", kGw, {{"tenants.yaml", tenants_with_key("        prefix: tg_abcd1234\n        sha256: " + std::string(63, 'a') + "\n")}},
       {"/cfg/tenants.yaml:8:17: tenants.acme.keys[0].sha256: expected 64 hex digits (SHA-256 of the key), got 63 "
        "characters"}},
      {"key_sha256_not_hex", kGw, {{"tenants.yaml", tenants_with_key("        prefix: tg_abcd1234\n        sha256: " + std::string(63, 'a') + "g\n")}},
       {"/cfg/tenants.yaml:8:17: tenants.acme.keys[0].sha256: expected 64 hex digits (SHA-256 of the key), found a "
        "non-hex character"}},
      {"key_missing_fields", kGw, {{"tenants.yaml", tenants_with_key("")}},
       {"/cfg/tenants.yaml:6:9: tenants.acme.keys[0]: missing required key \"prefix\"",
        "/cfg/tenants.yaml:6:9: tenants.acme.keys[0]: missing required key \"sha256\""}},
      {"key_expires_feb_30", kGw,
       {{"tenants.yaml", tenants_with_key("        prefix: tg_abcd1234\n        sha256: " + hex64('a') + "\n        expires: 2027-02-30\n")}},
       {"/cfg/tenants.yaml:9:18: tenants.acme.keys[0].expires: expected a calendar date YYYY-MM-DD, got \"2027-02-30\""}},
      {"key_name_duplicate", kGw,
       {{"tenants.yaml", tenants_with_key("        prefix: tg_abcd1234\n        sha256: " + hex64('a') +
                                          "\n      - name: prod\n        prefix: tg_abcd1235\n        sha256: " + hex64('b') + "\n")}},
       {"/cfg/tenants.yaml:9:15: tenants.acme.keys[1].name: duplicate key name \"prod\" in tenant \"acme\""}},
      {"key_hash_duplicate_across_files", kGwDir,
       {{"tenants.d/a.yaml", "plans: {free: {}}\ntenants:\n  a:\n    plan: free\n    keys:\n      - {name: prod, prefix: tg_aaaaaaaa, sha256: " + hex64('c') + "}\n"},
        {"tenants.d/b.yml", "tenants:\n  b:\n    plan: free\n    keys:\n      - {name: ci, prefix: tg_bbbbbbbb, sha256: " + hex64('C') + "}\n"}},
       {"/cfg/tenants.d/b.yml:5:49: tenants.b.keys[0].sha256: duplicate key hash, also used by tenant \"a\" key \"prod\""}},
      {"tenant_duplicate_across_files", kGwDir,
       {{"tenants.d/a.yaml", "plans: {free: {}}\ntenants:\n  acme: {plan: free}\n"},
        {"tenants.d/b.yaml", "tenants:\n  acme: {plan: free}\n"}},
       {"/cfg/tenants.d/b.yaml:2:3: duplicate tenant \"acme\" (first defined at /cfg/tenants.d/a.yaml:3)"}},
      {"plan_duplicate_across_files", kGwDir,
       {{"tenants.d/a.yaml", "plans:\n  free: {}\n"}, {"tenants.d/b.yaml", "\nplans:\n  free: {}\n"}},
       {"/cfg/tenants.d/b.yaml:3:3: duplicate plan \"free\" (first defined at /cfg/tenants.d/a.yaml:2)"}},
      {"duplicate_yaml_key", "listen: 0.0.0.0:1\nlisten: 0.0.0.0:2\n", {},
       {"/cfg/tollgate.yaml:2:1: duplicate key \"listen\""}},
      {"yaml_syntax_error", "listen: [0.0.0.0:80\n", {},
       {"/cfg/tollgate.yaml:2:1: YAML syntax error: end of sequence flow not found"}},
      {"yaml_syntax_error_in_tenants", kGw, {{"tenants.yaml", "tenants:\n  acme: {plan: free\n"}},
       {"/cfg/tenants.yaml:3:1: YAML syntax error: end of map flow not found"}},
      {"two_documents", "listen: 0.0.0.0:1\n---\nlisten: 0.0.0.0:2\n", {},
       {"/cfg/tollgate.yaml:2:1: only one YAML document per file is allowed"}},
      // yaml-cpp 0.7 alone would loop forever on these.
      {"stray_flow_entry", ",\n", {}, {"/cfg/tollgate.yaml:1:1: YAML syntax error: unexpected \",\""}},
      {"stray_flow_entry_after_list", "- a\n,\n", {}, {"/cfg/tollgate.yaml:2:1: YAML syntax error: unexpected \",\""}},
      {"top_level_not_a_mapping", "- listen\n", {},
       {"/cfg/tollgate.yaml:1:1: top level: expected a mapping, got a list"}},
      {"tenants_file_missing", "tenants: nope.yaml\n", {},
       {"/cfg/tollgate.yaml:1:10: tenants: cannot read \"/cfg/nope.yaml\": No such file or directory"}},
      {"tenants_unknown_top_level_key", kGw, {{"tenants.yaml", "plan: {}\n"}},
       {"/cfg/tenants.yaml:1:1: unknown key \"plan\""}},
      // Three independent errors in one file are all reported, in file order.
      {"three_errors_in_order",
       "listen: 0.0.0.0:99999\n"
       "server:\n"
       "  idle_timeout_ms: -1\n"
       "  colour: blue\n",
       {},
       {"/cfg/tollgate.yaml:1:9: listen: port must be 0..65535 in \"0.0.0.0:99999\"",
        "/cfg/tollgate.yaml:3:20: server.idle_timeout_ms: expected a positive integer number of milliseconds, got "
        "\"-1\"",
        "/cfg/tollgate.yaml:4:3: unknown key \"server.colour\""}},
      // Errors in both files, found in different passes, still come out in file order.
      {"errors_across_files_in_order",
       "threads: many\n" + kGw, {{"tenants.yaml", "tenants:\n  acme:\n    plan: gold\n    status: x\n"}},
       {"/cfg/tollgate.yaml:1:10: threads: expected \"auto\" or an integer in 1..1024, got \"many\"",
        "/cfg/tenants.yaml:3:11: tenants.acme.plan: unknown plan \"gold\"",
        "/cfg/tenants.yaml:4:13: tenants.acme.status: expected one of active, suspended, got \"x\""}},
  };
}

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, ReportsExactDiagnostics) {
  const BadCase& c = GetParam();
  const LoadResult r = testing::load_text(c.gateway, c.files);
  EXPECT_EQ(testing::strings(r.errors), c.errors);
  EXPECT_EQ(r.config, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Cases, BadConfig, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<BadCase>& info) { return info.param.name; });

TEST(BadConfigCount, HasAtLeastTwentyFiveCases) { EXPECT_GE(cases().size(), 25u); }

}  // namespace
}  // namespace tollgate::config
