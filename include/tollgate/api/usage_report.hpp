#pragma once
// Emit stage for GET /v1/usage (SPEC section 4): a tenant's own usage and limits.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/core/money.hpp"

namespace tollgate::api {

struct UsageWindow {
  std::chrono::sys_seconds start;
  std::chrono::sys_seconds resets_at;
  std::int64_t requests = 0;
  Tokens input;
  Tokens output;
  NanoUsd spent;
  std::optional<NanoUsd> limit;  // null in the JSON when the plan sets no budget
};

// {"tenant","plan","daily":{...},"monthly":{...},"limits":{...}}: times in RFC 3339 UTC, money
// as USD numbers, limits absent from the plan as null.
std::string usage_report_json(std::string_view tenant, std::string_view plan, const UsageWindow& daily,
                              const UsageWindow& monthly, const config::Limits& limits);

}  // namespace tollgate::api
