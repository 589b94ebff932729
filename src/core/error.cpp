#include "tollgate/core/error.hpp"

#include <stdexcept>

namespace tollgate {

std::string_view error_name(Error e) {
  switch (e) {
    case Error::invalid_request: return "invalid_request";
    case Error::max_tokens_exceeded: return "max_tokens_exceeded";
    case Error::invalid_api_key: return "invalid_api_key";
    case Error::tenant_suspended: return "tenant_suspended";
    case Error::model_not_allowed: return "model_not_allowed";
    case Error::model_not_found: return "model_not_found";
    case Error::not_found: return "not_found";
    case Error::method_not_allowed: return "method_not_allowed";
    case Error::request_too_large: return "request_too_large";
    case Error::headers_too_large: return "headers_too_large";
    case Error::rate_limited: return "rate_limit_exceeded";
    case Error::budget_exceeded: return "budget_exceeded";
    case Error::upstream_error: return "upstream_error";
    case Error::upstream_timeout: return "upstream_timeout";
    case Error::limits_unavailable: return "limits_unavailable";
    case Error::shutting_down: return "server_shutting_down";
  }
  return "unknown";
}

void throw_exception_from_error(const Failure& f, const boost::source_location&) {
  throw std::logic_error("unchecked Result: " + std::string(error_name(f.code)) + ": " + f.message);
}

}  // namespace tollgate
