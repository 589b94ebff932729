#pragma once
// The data plane's one error vocabulary (every stage); mapped to HTTP status and the
// OpenAI error body in exactly one place: api/error_response.
#include <string>
#include <string_view>
#include <utility>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>

namespace tollgate {

enum class Error {
  invalid_request,      // 400: body not JSON / not an object, missing or mistyped field
  max_tokens_exceeded,  // 400: max_tokens over the plan's per-request ceiling
  invalid_api_key,      // 401: missing, malformed, unknown, revoked or expired key
  tenant_suspended,     // 403: the key's tenant is suspended
  model_not_allowed,    // 403: model not on the plan and no downgrade applies
  model_not_found,      // 404: model not configured
  not_found,            // 404: unknown route
  method_not_allowed,   // 405: known route, wrong method
  request_too_large,    // 413: body over server.max_body_bytes
  headers_too_large,    // 431: request head over max_header_bytes or too many fields
  rate_limited,         // 429: rpm / rpd / tpm / concurrency
  budget_exceeded,      // 402: reservation does not fit the remaining budget
  upstream_error,       // 502: provider failed before the first byte
  upstream_timeout,     // 504: provider sent nothing within first_byte_timeout_ms
  limits_unavailable,   // 503: limits store cannot answer and policy says closed
  shutting_down,        // 503: the gateway stopped at the end of its shutdown grace period
};

// The stable snake_case name of an error (also OpenAI's `code` for most of them).
std::string_view error_name(Error e);

// An error with the human-readable message sent to the client. The message must never
// contain a key, a key hash or a provider secret: it is written to the client and to logs.
struct Failure {
  Error code;
  std::string message;
  std::string param;  // the offending request field, empty when none
};

inline Failure fail(Error code, std::string message, std::string param = {}) {
  return Failure{code, std::move(message), std::move(param)};
}

// Result<T> holds a T or a Failure. Hot-path functions return it instead of throwing.
template <class T>
using Result = boost::system::result<T, Failure>;

// Called by Result<T>::value() on a failure: a bug on the data plane (check first).
[[noreturn]] void throw_exception_from_error(const Failure& f, const boost::source_location& loc);

}  // namespace tollgate
