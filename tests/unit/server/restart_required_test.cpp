#include "restart_required.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace tollgate::server {
namespace {

using Names = std::vector<std::string>;

config::Config base() {
  config::Config c;
  c.source_file = "/etc/tollgate/tollgate.yaml";
  c.tenants_path = "/etc/tollgate/tenants.yaml";
  c.limits.local_state_dir = "/var/lib/tollgate/state";
  c.usage.file_path = "/var/lib/tollgate/usage.jsonl";
  c.usage.kafka_spool_dir = "/var/lib/tollgate/spool";
  return c;
}

// restart_required(base, base changed by `edit`).
Names changed(const std::function<void(config::Config&)>& edit) {
  const config::Config running = base();
  config::Config fresh = base();
  edit(fresh);
  return restart_required(running, fresh);
}

// Same, with both snapshots first put into the same starting state by `setup`.
Names changed(const std::function<void(config::Config&)>& setup, const std::function<void(config::Config&)>& edit) {
  config::Config running = base();
  setup(running);
  config::Config fresh = running;
  edit(fresh);
  return restart_required(running, fresh);
}

TEST(RestartRequired, IdenticalSnapshotsNeedNothing) { EXPECT_EQ(changed([](config::Config&) {}), Names{}); }

TEST(RestartRequired, Listeners) {
  EXPECT_EQ(changed([](config::Config& c) { c.listen.port = 9000; }), Names{"listen"});
  EXPECT_EQ(changed([](config::Config& c) { c.listen.host = "127.0.0.1"; }), Names{"listen"});
  EXPECT_EQ(changed([](config::Config& c) { c.admin_listen.port = 9999; }), Names{"admin_listen"});
  EXPECT_EQ(changed([](config::Config& c) { c.admin_listen.host = "0.0.0.0"; }), Names{"admin_listen"});
}

TEST(RestartRequired, Threads) { EXPECT_EQ(changed([](config::Config& c) { c.threads = 3; }), Names{"threads"}); }

TEST(RestartRequired, Tls) {
  const auto with_tls = [](config::Config& c) { c.tls = config::TlsConfig{"/etc/tls/cert.pem", "/etc/tls/key.pem"}; };
  EXPECT_EQ(changed(with_tls), Names{"tls"});
  EXPECT_EQ(changed(with_tls, [](config::Config& c) { c.tls.reset(); }), Names{"tls"});
  EXPECT_EQ(changed(with_tls, [](config::Config& c) { c.tls->cert_file = "/etc/tls/new.pem"; }), Names{"tls"});
  EXPECT_EQ(changed(with_tls, [](config::Config& c) { c.tls->key_file = "/etc/tls/new.key"; }), Names{"tls"});
  EXPECT_EQ(changed(with_tls, [](config::Config&) {}), Names{});
}

TEST(RestartRequired, LimitsStore) {
  EXPECT_EQ(changed([](config::Config& c) { c.limits.store = config::StoreKind::redis; }), Names{"limits.store"});
  EXPECT_EQ(changed([](config::Config& c) { c.limits.local_state_dir = "/srv/state"; }),
            Names{"limits.local.state_dir"});
}

TEST(RestartRequired, RedisOptionsWhileRedisIsTheStore) {
  const auto redis = [](config::Config& c) { c.limits.store = config::StoreKind::redis; };
  EXPECT_EQ(changed(redis, [](config::Config& c) { c.limits.redis_url = "redis://10.0.0.5:6379/1"; }),
            Names{"limits.redis.url"});
  EXPECT_EQ(changed(redis, [](config::Config& c) { c.limits.redis_timeout = config::Millis(80); }),
            Names{"limits.redis.timeout_ms"});
  EXPECT_EQ(changed(redis, [](config::Config& c) { c.limits.redis_password_env = "REDIS_PW"; }),
            Names{"limits.redis.password_env"});
  // The state directory is not used by the in-memory fallback store.
  EXPECT_EQ(changed(redis, [](config::Config& c) { c.limits.local_state_dir = "/srv/state"; }), Names{});
}

TEST(RestartRequired, RedisPasswordIsReportedByNameOnly) {
  const auto redis = [](config::Config& c) {
    c.limits.store = config::StoreKind::redis;
    c.limits.redis_password_env = "REDIS_PW";
    c.limits.redis_password = "old-secret-value";
  };
  const Names names = changed(redis, [](config::Config& c) { c.limits.redis_password = "new-secret-value"; });
  ASSERT_EQ(names, Names{"limits.redis.password_env"});
  for (const auto& name : names) EXPECT_EQ(name.find("secret"), std::string::npos);
}

TEST(RestartRequired, RedisOptionsIgnoredWhileLocalIsTheStore) {
  EXPECT_EQ(changed([](config::Config& c) {
              c.limits.redis_url = "redis://10.0.0.5:6379/1";
              c.limits.redis_timeout = config::Millis(80);
            }),
            Names{});
}

TEST(RestartRequired, UsageSink) {
  EXPECT_EQ(changed([](config::Config& c) { c.usage.sink = config::SinkKind::kafka; }), Names{"usage.sink"});
  EXPECT_EQ(changed([](config::Config& c) { c.usage.file_path = "/srv/usage.jsonl"; }), Names{"usage.file.path"});
  EXPECT_EQ(changed([](config::Config& c) { c.usage.file_max_bytes = 1 << 20; }), Names{"usage.file.max_bytes"});
  // Kafka settings do not matter while the sink is a file.
  EXPECT_EQ(changed([](config::Config& c) { c.usage.kafka_topic = "other"; }), Names{});
}

TEST(RestartRequired, UsageFormatIsCapturedForBudgetAlerts) {
  EXPECT_EQ(changed([](config::Config& c) { c.usage.format = config::EventFormat::cloudevents; }),
            Names{"usage.format"});
}

TEST(RestartRequired, KafkaOptionsWhileKafkaIsTheSink) {
  const auto kafka = [](config::Config& c) { c.usage.sink = config::SinkKind::kafka; };
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.kafka_brokers = "k1:9092,k2:9092"; }),
            Names{"usage.kafka.brokers"});
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.kafka_topic = "other"; }), Names{"usage.kafka.topic"});
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.kafka_client_id = "gw2"; }),
            Names{"usage.kafka.client_id"});
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.kafka_spool_dir = "/srv/spool"; }),
            Names{"usage.kafka.spool_dir"});
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.kafka_spool_max_bytes = 1 << 20; }),
            Names{"usage.kafka.spool_max_bytes"});
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.kafka_delivery_timeout = config::Millis(5); }),
            Names{"usage.kafka.delivery_timeout_ms"});
  const Names names =
      changed(kafka, [](config::Config& c) { c.usage.kafka_properties["sasl.password"] = "hunter2-secret"; });
  ASSERT_EQ(names, Names{"usage.kafka.properties"});
  EXPECT_EQ(names.front().find("hunter2"), std::string::npos);
  // The file sink's settings do not matter while the sink is Kafka.
  EXPECT_EQ(changed(kafka, [](config::Config& c) { c.usage.file_path = "/srv/usage.jsonl"; }), Names{});
}

TEST(RestartRequired, SessionOptions) {
  EXPECT_EQ(changed([](config::Config& c) { c.server.max_body_bytes = 1; }), Names{"server.max_body_bytes"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.max_header_bytes = 1; }), Names{"server.max_header_bytes"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.max_header_fields = 1; }), Names{"server.max_header_fields"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.idle_timeout = config::Millis(1); }),
            Names{"server.idle_timeout_ms"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.header_timeout = config::Millis(1); }),
            Names{"server.header_timeout_ms"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.shutdown_grace = config::Millis(1); }),
            Names{"server.shutdown_grace_ms"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.http2.max_resets_per_interval = 1; }), Names{"server.http2"});
  EXPECT_EQ(changed([](config::Config& c) { c.server.http2.interval = config::Millis(1); }), Names{"server.http2"});
}

TEST(RestartRequired, Logs) {
  EXPECT_EQ(changed([](config::Config& c) { c.log.level = log::Level::debug; }), Names{"log.level"});
  EXPECT_EQ(changed([](config::Config& c) { c.log.access = config::AccessLogTarget::off; }), Names{"log.access"});
  const auto to_file = [](config::Config& c) {
    c.log.access = config::AccessLogTarget::file;
    c.log.access_path = "/var/log/tollgate/access.jsonl";
  };
  EXPECT_EQ(changed(to_file), Names{"log.access"});
  EXPECT_EQ(changed(to_file, [](config::Config& c) { c.log.access_path = "/srv/access.jsonl"; }), Names{"log.access"});
  EXPECT_EQ(changed(to_file, [](config::Config& c) { c.log.access_max_bytes = 1 << 20; }),
            Names{"log.access_max_bytes"});
  // The rotation size does not matter while the access log is not a file.
  EXPECT_EQ(changed([](config::Config& c) { c.log.access_max_bytes = 1 << 20; }), Names{});
}

TEST(RestartRequired, SeveralChangesAreAllNamed) {
  const Names names = changed([](config::Config& c) {
    c.listen.port = 1;
    c.threads = 7;
    c.usage.sink = config::SinkKind::stdout_sink;
    c.server.idle_timeout = config::Millis(1);
  });
  EXPECT_EQ(names, (Names{"listen", "threads", "usage.sink", "server.idle_timeout_ms"}));
}

TEST(RestartRequired, PolicyChangesApplyOnReload) {
  // A new tenant, a changed plan and a changed key all live in the per-request snapshot.
  EXPECT_EQ(changed([](config::Config& c) {
              config::Tenant tenant;
              tenant.name = "newco";
              tenant.plan = "pro";
              c.policy.tenants.push_back(tenant);
            }),
            Names{});
  EXPECT_EQ(changed([](config::Config& c) {
              config::Plan plan;
              plan.name = "free";
              plan.limits.requests_per_minute = 5;
              plan.models = std::set<std::string>{"gpt-4o-mini"};
              c.policy.plans["free"] = plan;
            }),
            Names{});
  EXPECT_EQ(changed([](config::Config& c) { c.tenants_path = "/etc/tollgate/tenants.d"; }), Names{});
}

TEST(RestartRequired, ProvidersAndModelsApplyOnReload) {
  EXPECT_EQ(changed([](config::Config& c) {
              config::Provider provider;
              provider.name = "openai";
              provider.base_url = config::Url{"https", "api.openai.com", 443, "/v1"};
              provider.api_key_env = "OPENAI_API_KEY";
              provider.api_key = "sk-secret";
              provider.first_byte_timeout = config::Millis(1'000);
              c.providers["openai"] = provider;
              config::Model model;
              model.name = "gpt-4o";
              model.provider = "openai";
              c.models["gpt-4o"] = model;
            }),
            Names{});
}

TEST(RestartRequired, PerRequestLimitsSettingsApplyOnReload) {
  EXPECT_EQ(changed([](config::Config& c) {
              c.limits.reservation_ttl = std::chrono::seconds(60);
              c.limits.on_store_error_rate_limits = config::RateLimitFallback::closed;
              c.limits.on_store_error_budgets = config::BudgetFallback::open;
            }),
            Names{});
}

}  // namespace
}  // namespace tollgate::server
