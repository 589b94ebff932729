#include "request_metrics.hpp"

namespace tollgate::gateway {

std::string_view rejection_reason(Error code) {
  switch (code) {
    case Error::invalid_request:
    case Error::not_found:
    case Error::method_not_allowed: return "invalid";
    case Error::request_too_large:
    case Error::headers_too_large: return "body";
    case Error::invalid_api_key: return "auth";
    case Error::tenant_suspended: return "suspended";
    case Error::model_not_allowed:
    case Error::model_not_found: return "model";
    case Error::max_tokens_exceeded: return "max_tokens";
    case Error::rate_limited: return "rpm";  // refusal() names the limit precisely
    case Error::budget_exceeded: return "budget";
    case Error::limits_unavailable: return "store";
    case Error::upstream_error:
    case Error::upstream_timeout:
    case Error::shutting_down: return "";
  }
  return "";
}

std::string_view rate_limit_reason(std::string_view limit_name) {
  if (limit_name == "requests_per_day") return "rpd";
  if (limit_name == "tokens_per_minute") return "tpm";
  if (limit_name == "max_concurrent") return "concurrency";
  return "rpm";
}

}  // namespace tollgate::gateway
