#pragma once
// Emit stage: the one place that maps a Failure to an HTTP status and OpenAI's error body,
// for plain responses and for errors reported in-band after a stream has started.
#include <chrono>
#include <string>
#include <string_view>

#include "tollgate/core/error.hpp"
#include "tollgate/core/money.hpp"

namespace tollgate::api {

struct ErrorResponse {
  unsigned status = 500;
  std::string body;  // application/json
};

// Status, `type` and `code` per SPEC section 4:
// {"error":{"message":"...","type":"...","code":"...","param":null|"..."}}
ErrorResponse to_error_response(const Failure& failure);

// The extra members SPEC section 4 puts in a 402 (budget_exceeded) error object.
struct BudgetDetails {
  NanoUsd limit;
  NanoUsd spent;
  std::string_view window;  // "daily" or "monthly"
  std::chrono::sys_seconds resets_at;
};

// As above, with limit_usd, spent_usd (JSON numbers), window and resets_at (RFC 3339 UTC)
// added to the error object. Meant for Error::budget_exceeded.
ErrorResponse to_error_response(const Failure& failure, const BudgetDetails& budget);

// An in-band stream error: `data: {"error":{...}}\n\ndata: [DONE]\n\n`, the same error object
// as to_error_response, for failures after the response headers have been sent.
std::string sse_error_event(const Failure& failure);

}  // namespace tollgate::api
