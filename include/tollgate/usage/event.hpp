#pragma once
// Emit stage: the usage events of SPEC section 6, serialised once into a Record for whichever
// sink is configured, in the tollgate format or wrapped in a CloudEvents 1.0 envelope.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/core/money.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// One admitted request, once it finished. Views into the request's own state: serialise it
// (to_record) before that state goes away.
struct UsageEvent {
  std::string_view request_id;
  std::string_view tenant;
  std::string_view key_name;
  std::string_view key_prefix;
  std::string_view plan;
  std::string_view route;
  std::string_view provider;
  std::string_view model_requested;
  std::string_view model;
  bool stream = false;
  unsigned status = 0;
  std::string_view outcome;       // completed | client_disconnect | upstream_error | budget_cutoff
  std::string_view token_source;  // provider | counted
  Tokens input_tokens;
  Tokens output_tokens;
  NanoUsd cost;
  std::int64_t latency_ms = 0;
  std::optional<std::int64_t> ttft_ms;  // absent (null) when no token was delivered
  std::optional<std::string_view> feature;   // x-tollgate-feature
  std::optional<std::string_view> agent;     // x-tollgate-agent
  std::optional<std::string_view> end_user;  // the request's `user`
};

// A tenant's committed spend crossed soft_alert_at of one budget in its current window.
struct BudgetAlertEvent {
  std::string_view tenant;
  std::string_view window;  // daily | monthly
  double threshold = 0.8;
  NanoUsd limit;
  NanoUsd spent;
  std::chrono::sys_seconds resets_at;
};

// Free-form header values are cut to this many bytes (on a UTF-8 boundary) in events.
inline constexpr std::size_t kMaxLabelBytes = 128;

// A new UUIDv7 (RFC 9562) in its 36-character text form: time-ordered (millisecond timestamp
// first, then a per-thread counter), random otherwise. Thread-safe, lock-free.
std::string new_event_id();

// This process's CloudEvents `source`: "tollgate/<hostname>/<random>", fixed for the process.
const std::string& instance_id();

// Serialises `event` with a fresh event_id and `ts` = now (RFC 3339 UTC, milliseconds).
// cloudevents: {"specversion":"1.0","id","source","type":"tollgate.usage","subject": tenant,
// "time","datacontenttype":"application/json","data": <the tollgate event>}.
Record to_record(const UsageEvent& event, config::EventFormat format, std::chrono::system_clock::time_point now);
Record to_record(const BudgetAlertEvent& event, config::EventFormat format, std::chrono::system_clock::time_point now);

}  // namespace tollgate::usage
