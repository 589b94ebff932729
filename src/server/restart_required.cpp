#include "restart_required.hpp"

namespace tollgate::server {

namespace {

bool same(const config::HostPort& a, const config::HostPort& b) { return a.host == b.host && a.port == b.port; }

bool same(const std::optional<config::TlsConfig>& a, const std::optional<config::TlsConfig>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->cert_file == b->cert_file && a->key_file == b->key_file);
}

}  // namespace

// Where each setting is read (keep in step with src/server/server.cpp):
// - run(): the listeners, the worker count, the LocalStore (its state_dir), the usage sink
//   (usage::open_sink reads usage.sink, usage.file.* and usage.kafka.* once), the session
//   options and shutdown grace;
// - once per process: the access log (gateway::AccessLog::open reads log.access and
//   log.access_max_bytes) and the process log level (log::set_level at start);
// - Worker's constructor: the RedisStore options, and usage.format for budget_alert events
//   (alert_emitter captures it; usage events read it per request, so a change would apply to
//   only half of the events).
std::vector<std::string> restart_required(const config::Config& running, const config::Config& fresh) {
  std::vector<std::string> names;
  const auto check = [&names](bool differs, const char* name) {
    if (differs) names.emplace_back(name);
  };
  check(!same(running.listen, fresh.listen), "listen");
  check(!same(running.admin_listen, fresh.admin_listen), "admin_listen");
  check(running.threads != fresh.threads, "threads");
  check(!same(running.tls, fresh.tls), "tls");

  const config::LimitsConfig& rl = running.limits;
  const config::LimitsConfig& fl = fresh.limits;
  check(rl.store != fl.store, "limits.store");
  if (rl.store == fl.store && rl.store == config::StoreKind::local) {
    check(rl.local_state_dir != fl.local_state_dir, "limits.local.state_dir");
  }
  if (rl.store == fl.store && rl.store == config::StoreKind::redis) {
    check(rl.redis_url != fl.redis_url, "limits.redis.url");
    check(rl.redis_timeout != fl.redis_timeout, "limits.redis.timeout_ms");
    // The resolved password is compared too, but reported only by the setting that names it.
    check(rl.redis_password_env != fl.redis_password_env || rl.redis_password != fl.redis_password,
          "limits.redis.password_env");
  }

  const config::UsageConfig& ru = running.usage;
  const config::UsageConfig& fu = fresh.usage;
  check(ru.sink != fu.sink, "usage.sink");
  check(ru.format != fu.format, "usage.format");
  if (ru.sink == fu.sink && ru.sink == config::SinkKind::file) {
    check(ru.file_path != fu.file_path, "usage.file.path");
    check(ru.file_max_bytes != fu.file_max_bytes, "usage.file.max_bytes");
  }
  if (ru.sink == fu.sink && ru.sink == config::SinkKind::kafka) {
    check(ru.kafka_brokers != fu.kafka_brokers, "usage.kafka.brokers");
    check(ru.kafka_topic != fu.kafka_topic, "usage.kafka.topic");
    check(ru.kafka_client_id != fu.kafka_client_id, "usage.kafka.client_id");
    check(ru.kafka_spool_dir != fu.kafka_spool_dir, "usage.kafka.spool_dir");
    check(ru.kafka_spool_max_bytes != fu.kafka_spool_max_bytes, "usage.kafka.spool_max_bytes");
    check(ru.kafka_delivery_timeout != fu.kafka_delivery_timeout, "usage.kafka.delivery_timeout_ms");
    check(ru.kafka_properties != fu.kafka_properties, "usage.kafka.properties");  // may hold SASL secrets
  }

  // The access log is opened once, like the usage sink; the process log level is set at start.
  const config::LogConfig& rg = running.log;
  const config::LogConfig& fg = fresh.log;
  check(rg.level != fg.level, "log.level");
  check(rg.access != fg.access || rg.access_path != fg.access_path, "log.access");
  if (rg.access == fg.access && rg.access == config::AccessLogTarget::file) {
    check(rg.access_max_bytes != fg.access_max_bytes, "log.access_max_bytes");
  }

  const config::ServerConfig& rs = running.server;
  const config::ServerConfig& fs = fresh.server;
  check(rs.max_body_bytes != fs.max_body_bytes, "server.max_body_bytes");
  check(rs.max_header_bytes != fs.max_header_bytes, "server.max_header_bytes");
  check(rs.max_header_fields != fs.max_header_fields, "server.max_header_fields");
  check(rs.idle_timeout != fs.idle_timeout, "server.idle_timeout_ms");
  check(rs.header_timeout != fs.header_timeout, "server.header_timeout_ms");
  check(rs.shutdown_grace != fs.shutdown_grace, "server.shutdown_grace_ms");
  check(rs.http2 != fs.http2, "server.http2");
  return names;
}

}  // namespace tollgate::server
