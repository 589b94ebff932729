#pragma once
// Server stage (reload): which changed settings a reload cannot apply, so the operator is told
// to restart instead of believing the new value is live.
#include <string>
#include <vector>

#include "tollgate/config/config.hpp"

namespace tollgate::server {

// The names (dotted paths as written in the gateway file, e.g. "listen", "limits.redis.url",
// "usage.kafka.properties") of settings that differ between `running` and `fresh` and are only
// read at start-up: listeners, thread count, TLS, the limits store, the usage sink, the logs
// and the HTTP session limits. Empty when a reload applies everything (providers, models, tenants and plans,
// limits.reservation_ttl_s, limits.on_store_error are read per request from the snapshot).
// Only names: never a value, so secrets (the Redis password, Kafka SASL properties) stay out
// of logs. A setting of a store or sink that is in use in neither snapshot is not reported.
std::vector<std::string> restart_required(const config::Config& running, const config::Config& fresh);

}  // namespace tollgate::server
