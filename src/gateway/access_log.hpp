#pragma once
// Gateway (accounting): the one access-log line per request. Holds only names, prefixes and
// numbers: never a key, a key hash, a provider secret or a prompt.
#include <cstdint>
#include <string>
#include <string_view>

#include "tollgate/core/money.hpp"

namespace tollgate::gateway {

struct AccessRecord {
  std::string_view request_id;
  std::string_view tenant;
  std::string_view key_name;
  std::string_view key_prefix;
  std::string_view route;
  std::string_view model_requested;
  std::string_view model;
  unsigned status = 0;
  std::string_view error_code;  // our code when the gateway refused or failed the request
  bool stream = false;
  std::string_view outcome;       // completed | client_disconnect | upstream_error | budget_cutoff
  std::string_view token_source;  // provider | counted
  Tokens input_tokens;
  Tokens output_tokens;
  NanoUsd cost;
  std::int64_t latency_ms = 0;
  std::int64_t ttft_ms = -1;      // -1: no token was delivered
};

void write_access_log(const AccessRecord& record);

}  // namespace tollgate::gateway
