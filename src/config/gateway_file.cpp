#include "gateway_file.hpp"

namespace tollgate::config::detail {
namespace {

// Defaults for paths, as in SPEC section 3, relative to the gateway file.
constexpr std::string_view kDefaultStateDir = "../var/state";
constexpr std::string_view kDefaultUsageFile = "../var/usage.jsonl";
constexpr std::string_view kDefaultSpoolDir = "../var/spool";
constexpr std::int64_t kMaxThreads = 1024;
constexpr std::int64_t kMaxTtlSeconds = 30LL * 24 * 3600;

void read_threads(const Fields& top, Config& cfg) {
  auto node = top.find("threads");
  if (!node) return;
  if (node->IsScalar() && node->Scalar() == "auto") {
    cfg.threads = 0;
    return;
  }
  std::optional<std::int64_t> v;
  if (node->IsScalar()) v = parse_positive_int(node->Scalar());
  if (!v || *v > kMaxThreads) {
    top.ctx().error(top.mark("threads"), "threads: expected \"auto\" or an integer in 1.." + std::to_string(kMaxThreads) +
                                      ", got " + describe(*node));
    return;
  }
  cfg.threads = static_cast<unsigned>(*v);
}

void read_tls(const Fields& top, Config& cfg) {
  auto node = top.entry("tls");
  if (!node) return;
  Fields tls(top.ctx(), *node, "tls", {"cert", "key"});
  tls.require("cert");
  tls.require("key");
  auto cert = tls.file_path("cert");
  auto key = tls.file_path("key");
  if (cert && key) cfg.tls = TlsConfig{*cert, *key};
}

void read_limits(const Fields& top, const EnvLookup& env, LimitsConfig& out) {
  auto node = top.entry("limits");
  if (!node) return;
  Fields f(top.ctx(), *node, "limits", {"store", "local", "redis", "reservation_ttl_s", "on_store_error"});
  if (auto v = f.choice<StoreKind>("store", {{"local", StoreKind::local}, {"redis", StoreKind::redis}})) out.store = *v;
  if (auto local = f.entry("local")) {
    Fields l(f.ctx(), *local, f.path("local"), {"state_dir"});
    if (auto v = l.file_path("state_dir")) out.local_state_dir = *v;
  }
  if (auto redis = f.entry("redis")) {
    Fields r(f.ctx(), *redis, f.path("redis"), {"url", "timeout_ms", "password_env"});
    if (r.url("url", {"redis"})) out.redis_url = *r.string("url");
    if (auto v = r.millis("timeout_ms")) out.redis_timeout = *v;
    if (auto v = r.string("password_env")) {
      if (!is_env_name(*v)) {
        f.ctx().error(r.mark("password_env"),
                      r.path("password_env") + ": expected an environment variable name, got " + in_quotes(*v));
      } else {
        out.redis_password_env = *v;
        // The value is a secret: it goes into the struct and nowhere else.
        auto password = env(*v);
        if (password && !password->empty()) {
          out.redis_password = std::move(password);
        } else {
          f.ctx().warning(r.mark("password_env"), r.path("password_env") + ": environment variable " + *v +
                                                      " is not set or empty; connecting to Redis without AUTH");
        }
      }
    }
  }
  if (auto v = f.positive_int("reservation_ttl_s")) {
    if (*v > kMaxTtlSeconds) {
      f.ctx().error(f.mark("reservation_ttl_s"), f.path("reservation_ttl_s") + ": at most " +
                                                     std::to_string(kMaxTtlSeconds) + " (30 days), got " +
                                                     describe(*f.find("reservation_ttl_s")));
    } else {
      out.reservation_ttl = std::chrono::seconds{*v};
    }
  }
  if (auto on_error = f.entry("on_store_error")) {
    Fields e(f.ctx(), *on_error, f.path("on_store_error"), {"rate_limits", "budgets"});
    if (auto v = e.choice<RateLimitFallback>("rate_limits", {{"local", RateLimitFallback::local},
                                                             {"open", RateLimitFallback::open},
                                                             {"closed", RateLimitFallback::closed}})) {
      out.on_store_error_rate_limits = *v;
    }
    if (auto v = e.choice<BudgetFallback>("budgets", {{"closed", BudgetFallback::closed},
                                                      {"open", BudgetFallback::open}})) {
      out.on_store_error_budgets = *v;
    }
  }
}

void read_kafka(const Fields& usage, UsageConfig& out) {
  auto node = usage.entry("kafka");
  if (!node) return;
  Fields k(usage.ctx(), *node, usage.path("kafka"),
           {"brokers", "topic", "client_id", "spool_dir", "spool_max_bytes", "delivery_timeout_ms", "properties"});
  if (auto v = k.string("brokers")) out.kafka_brokers = *v;
  if (auto v = k.string("topic")) out.kafka_topic = *v;
  if (auto v = k.string("client_id")) out.kafka_client_id = *v;
  if (auto v = k.file_path("spool_dir")) out.kafka_spool_dir = *v;
  if (auto v = k.positive_int("spool_max_bytes")) out.kafka_spool_max_bytes = static_cast<std::uint64_t>(*v);
  if (auto v = k.millis("delivery_timeout_ms")) out.kafka_delivery_timeout = *v;
  if (auto props = k.find("properties")) {
    const std::string path = k.path("properties");
    for (const Entry& e : named_entries(k.ctx(), *props, path)) {
      if (auto v = read_string(k.ctx(), e.value, child_path(path, e.key), value_mark(e))) out.kafka_properties[e.key] = *v;
    }
  }
}

void read_usage(const Fields& top, UsageConfig& out) {
  auto node = top.entry("usage");
  if (!node) return;
  Fields f(top.ctx(), *node, "usage", {"sink", "format", "file", "kafka"});
  if (auto v = f.choice<SinkKind>("sink", {{"file", SinkKind::file},
                                          {"kafka", SinkKind::kafka},
                                          {"stdout", SinkKind::stdout_sink}})) {
    out.sink = *v;
  }
  if (auto v = f.choice<EventFormat>("format", {{"tollgate", EventFormat::tollgate},
                                                {"cloudevents", EventFormat::cloudevents}})) {
    out.format = *v;
  }
  if (auto file = f.entry("file")) {
    Fields fl(f.ctx(), *file, f.path("file"), {"path", "max_bytes"});
    if (auto v = fl.file_path("path")) out.file_path = *v;
    if (auto v = fl.positive_int("max_bytes")) out.file_max_bytes = static_cast<std::uint64_t>(*v);
  }
  read_kafka(f, out);
}

// server.http2: the downstream HTTP/2 protections (defaults in http::Http2Limits).
void read_http2(const Fields& server, http::Http2Limits& out) {
  auto node = server.entry("http2");
  if (!node) return;
  Fields f(server.ctx(), *node, server.path("http2"),
           {"max_concurrent_streams", "flood_interval_ms", "max_resets_per_interval", "max_settings_per_interval",
            "max_pings_per_interval", "max_continuations"});
  if (auto v = f.positive_int("max_concurrent_streams")) {
    // Stream ids are 31 bits wide: no connection can hold more streams than that.
    if (*v > 0x7FFF'FFFF) {
      f.ctx().error(f.mark("max_concurrent_streams"), f.path("max_concurrent_streams") + ": at most 2147483647, got " +
                                                          describe(*f.find("max_concurrent_streams")));
    } else {
      out.max_concurrent_streams = static_cast<std::uint32_t>(*v);
    }
  }
  if (auto v = f.millis("flood_interval_ms")) out.interval = *v;
  if (auto v = f.positive_int("max_resets_per_interval")) out.max_resets_per_interval = static_cast<std::size_t>(*v);
  if (auto v = f.positive_int("max_settings_per_interval")) {
    out.max_settings_per_interval = static_cast<std::size_t>(*v);
  }
  if (auto v = f.positive_int("max_pings_per_interval")) out.max_pings_per_interval = static_cast<std::size_t>(*v);
  if (auto v = f.positive_int("max_continuations")) out.max_continuations = static_cast<std::size_t>(*v);
}

void read_server(const Fields& top, ServerConfig& out) {
  auto node = top.entry("server");
  if (!node) return;
  Fields f(top.ctx(), *node, "server",
           {"max_body_bytes", "max_header_bytes", "max_header_fields", "idle_timeout_ms", "header_timeout_ms",
            "shutdown_grace_ms", "http2"});
  if (auto v = f.positive_int("max_body_bytes")) out.max_body_bytes = static_cast<std::size_t>(*v);
  if (auto v = f.positive_int("max_header_bytes")) out.max_header_bytes = static_cast<std::size_t>(*v);
  if (auto v = f.positive_int("max_header_fields")) out.max_header_fields = static_cast<std::size_t>(*v);
  if (auto v = f.millis("idle_timeout_ms")) out.idle_timeout = *v;
  if (auto v = f.millis("header_timeout_ms")) out.header_timeout = *v;
  if (auto v = f.millis("shutdown_grace_ms")) out.shutdown_grace = *v;
  read_http2(f, out.http2);
}

// `access` is `stderr`, `off` or a file path (a file named "off" is written "./off").
void read_log(const Fields& top, LogConfig& out) {
  auto node = top.entry("log");
  if (!node) return;
  Fields f(top.ctx(), *node, "log", {"level", "access", "access_max_bytes"});
  if (auto v = f.choice<log::Level>("level", {{"debug", log::Level::debug},
                                              {"info", log::Level::info},
                                              {"warn", log::Level::warn},
                                              {"error", log::Level::error}})) {
    out.level = *v;
  }
  if (auto v = f.string("access")) {
    if (*v == "stderr") {
      out.access = AccessLogTarget::stderr_stream;
    } else if (*v == "off") {
      out.access = AccessLogTarget::off;
    } else {
      out.access = AccessLogTarget::file;
      out.access_path = resolve_path(f.ctx().dir, *v).string();
    }
  }
  if (auto v = f.positive_int("access_max_bytes")) out.access_max_bytes = static_cast<std::uint64_t>(*v);
}

bool is_field_name(std::string_view s) {
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return !s.empty();
}

void read_provider(const FileContext& ctx, const Entry& entry, const EnvLookup& env, GatewayFile& out) {
  Config& cfg = out.config;
  const std::string path = child_path("providers", entry.key);
  Fields f(ctx, entry, path,
           {"type", "base_url", "api_key_env", "connect_timeout_ms", "first_byte_timeout_ms",
            "stream_idle_timeout_ms", "max_tokens_field", "ca_file", "http2", "http2_ping_interval_ms"});
  Provider p;
  p.name = entry.key;
  if (auto v = f.choice<std::string_view>("type", {{"openai", "openai"}})) p.type = std::string(*v);
  f.require("base_url");
  if (auto v = f.url("base_url", {"http", "https"})) p.base_url = *v;
  if (auto v = f.string("api_key_env")) {
    if (!is_env_name(*v)) {
      ctx.error(f.mark("api_key_env"),
                f.path("api_key_env") + ": expected an environment variable name, got " + in_quotes(*v));
    } else {
      p.api_key_env = *v;
      // The value is a secret: it goes into the struct and nowhere else.
      auto key = env(*v);
      if (key && !key->empty()) {
        p.api_key = std::move(key);
      } else {
        ctx.warning(f.mark("api_key_env"),
                    f.path("api_key_env") + ": environment variable " + *v + " is not set or empty; requests to provider " +
                        in_quotes(entry.key) + " will fail with 502");
      }
    }
  }
  if (auto v = f.millis("connect_timeout_ms")) p.connect_timeout = *v;
  if (auto v = f.millis("first_byte_timeout_ms")) p.first_byte_timeout = *v;
  if (auto v = f.millis("stream_idle_timeout_ms")) p.stream_idle_timeout = *v;
  if (auto v = f.millis("http2_ping_interval_ms")) p.http2_ping_interval = *v;
  if (auto v = f.file_path("ca_file")) {
    p.ca_file = *v;
    out.ca_file_marks[entry.key] = f.mark("ca_file");
  }
  if (auto v = f.choice<Http2Mode>("http2", {{"auto", Http2Mode::auto_}, {"on", Http2Mode::on},
                                             {"off", Http2Mode::off}})) {
    p.http2 = *v;
  }
  if (auto v = f.string("max_tokens_field")) {
    if (is_field_name(*v)) {
      p.max_tokens_field = *v;
    } else {
      ctx.error(f.mark("max_tokens_field"),
                f.path("max_tokens_field") + ": expected a JSON field name, got " + in_quotes(*v));
    }
  }
  cfg.providers[entry.key] = std::move(p);
}

void read_model(const FileContext& ctx, const Entry& entry, const std::set<std::string>& provider_names,
                Config& cfg) {
  const std::string path = child_path("models", entry.key);
  Fields f(ctx, entry, path,
           {"provider", "input_usd_per_mtok", "output_usd_per_mtok", "max_output_tokens", "upstream_model"});
  Model m;
  m.name = entry.key;
  m.upstream_model = entry.key;
  // Prices are required: a forgotten price would make the model free and bypass budgets.
  f.require("provider");
  f.require("input_usd_per_mtok");
  f.require("output_usd_per_mtok");
  if (auto v = f.string("provider")) {
    if (provider_names.count(*v) == 0) {
      ctx.error(f.mark("provider"), f.path("provider") + ": unknown provider " + in_quotes(*v));
    }
    m.provider = *v;
  }
  if (auto v = f.usd("input_usd_per_mtok")) m.input_price = PricePerMTok{v->value};
  if (auto v = f.usd("output_usd_per_mtok")) m.output_price = PricePerMTok{v->value};
  if (auto v = f.positive_int("max_output_tokens")) m.max_output_tokens = Tokens{*v};
  if (auto v = f.string("upstream_model")) m.upstream_model = *v;
  cfg.models[entry.key] = std::move(m);
}

}  // namespace

GatewayFile read_gateway_file(const FileContext& ctx, const YAML::Node& root, const EnvLookup& env) {
  GatewayFile out;
  Config& cfg = out.config;
  cfg.source_file = ctx.file;
  cfg.limits.local_state_dir = resolve_path(ctx.dir, kDefaultStateDir).string();
  cfg.usage.file_path = resolve_path(ctx.dir, kDefaultUsageFile).string();
  cfg.usage.kafka_spool_dir = resolve_path(ctx.dir, kDefaultSpoolDir).string();

  Fields top(ctx, root, "",
             {"listen", "admin_listen", "threads", "tls", "limits", "usage", "server", "log", "providers",
              "models", "tenants"});
  if (auto v = top.host_port("listen")) cfg.listen = *v;
  if (auto v = top.host_port("admin_listen")) cfg.admin_listen = *v;
  read_threads(top, cfg);
  read_tls(top, cfg);
  read_limits(top, env, cfg.limits);
  read_usage(top, cfg.usage);
  read_server(top, cfg.server);
  read_log(top, cfg.log);

  // Providers first, so models can be checked against every provider name, valid or not.
  std::set<std::string> provider_names;
  std::vector<Entry> providers;
  if (auto node = top.find("providers")) providers = named_entries(ctx, *node, "providers");
  for (const Entry& e : providers) provider_names.insert(e.key);
  for (const Entry& e : providers) read_provider(ctx, e, env, out);

  if (auto node = top.find("models")) {
    for (const Entry& e : named_entries(ctx, *node, "models")) {
      out.model_names.insert(e.key);
      read_model(ctx, e, provider_names, cfg);
    }
  }

  if (auto v = top.file_path("tenants")) {
    cfg.tenants_path = *v;
    out.tenants_mark = top.mark("tenants");
  }
  return out;
}

}  // namespace tollgate::config::detail
