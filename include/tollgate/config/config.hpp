#pragma once
// Immutable configuration snapshot (gateway file + tenant policies), built once by
// config::load and shared read-only by every worker through shared_ptr<const Config>.
// Everything derivable (merged plan limits, the key index) is computed at load time.
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "tollgate/core/log.hpp"
#include "tollgate/core/money.hpp"
#include "tollgate/http/http2_limits.hpp"

namespace tollgate::config {

using Millis = std::chrono::milliseconds;

struct HostPort {
  std::string host;  // literal IP address or "localhost"
  std::uint16_t port = 0;
};

struct Url {
  std::string scheme;       // "http" or "https"
  std::string host;
  std::uint16_t port = 0;   // explicit or the scheme default
  std::string path;         // base path without trailing slash, e.g. "/v1" (may be empty)
  bool tls() const { return scheme == "https"; }
};

struct TlsConfig {
  std::string cert_file;  // absolute
  std::string key_file;   // absolute
};

enum class StoreKind { local, redis };
enum class RateLimitFallback { local, open, closed };
enum class BudgetFallback { closed, open };

struct LimitsConfig {
  StoreKind store = StoreKind::local;
  std::string local_state_dir;                      // absolute
  std::string redis_url = "redis://127.0.0.1:6379/0";  // never holds a password (the loader refuses user info)
  Millis redis_timeout{50};
  std::string redis_password_env;  // empty: no AUTH
  // Resolved from the environment at load time. Secret: never log, print or serialise it.
  std::optional<std::string> redis_password;
  std::chrono::seconds reservation_ttl{600};
  RateLimitFallback on_store_error_rate_limits = RateLimitFallback::local;
  BudgetFallback on_store_error_budgets = BudgetFallback::closed;
};

enum class SinkKind { file, kafka, stdout_sink };
enum class EventFormat { tollgate, cloudevents };

struct UsageConfig {
  SinkKind sink = SinkKind::file;
  EventFormat format = EventFormat::tollgate;
  std::string file_path;                            // absolute
  // The file is renamed to <path>.<N> (the next free N, never reused) once it reaches this size.
  std::uint64_t file_max_bytes = 100ull << 20;
  std::string kafka_brokers = "127.0.0.1:9092";
  std::string kafka_topic = "llm.usage";
  std::string kafka_client_id = "tollgate";
  std::string kafka_spool_dir;                      // absolute
  // At the cap new unacknowledged events are dropped (counted and logged), never the old ones.
  std::uint64_t kafka_spool_max_bytes = 1ull << 30;
  // An event the broker has not acknowledged within this long goes to the spool.
  Millis kafka_delivery_timeout{10'000};
  std::map<std::string, std::string> kafka_properties;  // passed to librdkafka as is
};

// Where the access log (one JSON line per request) goes; stderr_stream, as `stderr` is a macro.
enum class AccessLogTarget { stderr_stream, off, file };

struct LogConfig {
  log::Level level = log::Level::info;  // the process log on stderr; the access log ignores it
  AccessLogTarget access = AccessLogTarget::stderr_stream;
  std::string access_path;              // absolute; set only when `access` is a file
  // The access file is renamed to <path>.<N> (the next free N, never reused) once it reaches this size.
  std::uint64_t access_max_bytes = 100ull << 20;
};

struct ServerConfig {
  std::size_t max_body_bytes = 4'194'304;
  std::size_t max_header_bytes = 61'440;
  std::size_t max_header_fields = 100;
  Millis idle_timeout{75'000};
  Millis header_timeout{10'000};
  Millis shutdown_grace{30'000};
  http::Http2Limits http2;  // server.http2: the downstream HTTP/2 protections
};

// HTTP/2 to a provider. `auto`: offer ALPN "h2,http/1.1" on https and use what the provider
// picks; plain http stays HTTP/1.1 (there is no ALPN). `on`: https requires ALPN h2 (a
// request fails otherwise); http uses h2c with prior knowledge. `off`: HTTP/1.1 only.
enum class Http2Mode { auto_, on, off };

struct Provider {
  std::string name;
  std::string type = "openai";
  Url base_url;
  std::string api_key_env;          // empty: the provider needs no key (local servers)
  // Resolved from the environment at load time. Secret: never log, print or serialise it.
  std::optional<std::string> api_key;
  Millis connect_timeout{5'000};
  Millis first_byte_timeout{60'000};
  Millis stream_idle_timeout{300'000};
  std::optional<std::string> max_tokens_field;  // overrides max_completion_tokens/max_tokens
  // PEM file of the CAs that may sign this provider's certificate (absolute); empty means the
  // system trust store. For providers behind a private CA, and for tests.
  std::string ca_file;
  std::string ca_pem;  // the contents of ca_file, read at load time
  Http2Mode http2 = Http2Mode::auto_;
  // HTTP/2 keep-alive: after this long without a byte from the provider a PING goes out; no
  // answer within connect_timeout fails the connection (and the streams on it).
  Millis http2_ping_interval{10'000};
};

struct Model {
  std::string name;            // public name tenants ask for
  std::string provider;        // key into Config::providers (validated)
  std::string upstream_model;  // name sent to the provider; defaults to `name`
  PricePerMTok input_price;
  PricePerMTok output_price;
  Tokens max_output_tokens{16'384};
};

// Limits of one tenant: its plan's values with the tenant's overrides applied.
// nullopt means "no limit".
struct Limits {
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> requests_per_day;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> max_tokens_per_request;
  std::optional<std::int64_t> max_concurrent;
  std::optional<NanoUsd> budget_daily;
  std::optional<NanoUsd> budget_monthly;
  double soft_alert_at = 0.8;          // a fraction of a budget, in (0, 1]
  std::optional<double> downgrade_at;  // a fraction of a budget, in (0, 1]
};

struct Plan {
  std::string name;
  Limits limits;
  std::optional<std::set<std::string>> models;   // allowed models; nullopt = all
  std::map<std::string, std::string> downgrade;  // requested model -> replacement
};

using Sha256 = std::array<std::uint8_t, 32>;

struct Key {
  std::string name;
  std::string prefix;  // "tg_" + 8 base62 chars: safe to log
  Sha256 sha256{};     // of the whole key
  bool revoked = false;
  // Valid through the end of this UTC day; nullopt = never expires.
  std::optional<std::chrono::sys_days> expires;
};

struct Tenant {
  std::string name;
  std::string plan;      // plan name, validated to exist
  bool suspended = false;
  Limits limits;         // plan limits with overrides applied
  std::optional<std::set<std::string>> models;   // copied from the plan
  std::map<std::string, std::string> downgrade;  // copied from the plan
  std::vector<Key> keys;
};

struct KeyRef {
  std::size_t tenant = 0;  // index into Policy::tenants
  std::size_t key = 0;     // index into Tenant::keys
};

// The key of Policy::key_index for a key's SHA-256: its 32 raw bytes. The loader builds the
// index and auth looks keys up with this one definition.
inline std::string key_index_key(const Sha256& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

struct Policy {
  std::map<std::string, Plan> plans;
  std::vector<Tenant> tenants;
  // key_index_key(SHA-256) -> key. Built at load; hash collisions between keys are load errors.
  std::unordered_map<std::string, KeyRef> key_index;
};

struct Config {
  std::string source_file;                 // absolute path of the gateway file
  HostPort listen{"0.0.0.0", 8080};
  HostPort admin_listen{"127.0.0.1", 9464};
  unsigned threads = 0;                    // 0 = auto (one per core)
  std::optional<TlsConfig> tls;
  LimitsConfig limits;
  UsageConfig usage;
  ServerConfig server;
  LogConfig log;
  std::map<std::string, Provider> providers;
  std::map<std::string, Model> models;
  std::string tenants_path;                // absolute; a file or a directory of *.yaml
  Policy policy;
};

}  // namespace tollgate::config
