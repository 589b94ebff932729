#include "tollgate/api/error_response.hpp"

#include "tollgate/core/json_string.hpp"
#include "tollgate/core/timestamp.hpp"

namespace tollgate::api {
namespace {

struct HttpMapping {
  unsigned status;
  std::string_view type;  // OpenAI's error type; the SDKs pick their exception class by status
};

// SPEC section 4. `code` is error_name(), which is our specific code for every error.
HttpMapping http_mapping(Error e) {
  switch (e) {
    case Error::invalid_request: return {400, "invalid_request_error"};
    case Error::max_tokens_exceeded: return {400, "invalid_request_error"};
    case Error::invalid_api_key: return {401, "authentication_error"};
    case Error::budget_exceeded: return {402, "insufficient_quota"};
    case Error::tenant_suspended: return {403, "permission_error"};
    case Error::model_not_allowed: return {403, "permission_error"};
    case Error::model_not_found: return {404, "not_found_error"};
    case Error::not_found: return {404, "not_found_error"};
    case Error::method_not_allowed: return {405, "invalid_request_error"};
    case Error::request_too_large: return {413, "invalid_request_error"};
    case Error::headers_too_large: return {431, "invalid_request_error"};
    case Error::rate_limited: return {429, "rate_limit_error"};
    case Error::upstream_error: return {502, "api_error"};
    case Error::limits_unavailable: return {503, "api_error"};
    case Error::shutting_down: return {503, "api_error"};
    case Error::upstream_timeout: return {504, "api_error"};
  }
  return {500, "api_error"};
}


// {"error":{"message":...,"type":...,"code":...,"param":...<extra>}}; `extra` is either empty
// or starts with a comma.
std::string error_body(const Failure& failure, std::string_view type, std::string_view extra) {
  std::string body = R"({"error":{"message":)";
  append_json_string(body, failure.message);
  body += R"(,"type":)";
  append_json_string(body, type);
  body += R"(,"code":)";
  append_json_string(body, error_name(failure.code));
  body += R"(,"param":)";
  if (failure.param.empty()) {
    body += "null";
  } else {
    append_json_string(body, failure.param);
  }
  body += extra;
  body += "}}";
  return body;
}

}  // namespace

ErrorResponse to_error_response(const Failure& failure) {
  const HttpMapping mapping = http_mapping(failure.code);
  return ErrorResponse{mapping.status, error_body(failure, mapping.type, {})};
}

ErrorResponse to_error_response(const Failure& failure, const BudgetDetails& budget) {
  const HttpMapping mapping = http_mapping(failure.code);
  std::string extra = R"(,"limit_usd":)";
  extra += format_usd(budget.limit);
  extra += R"(,"spent_usd":)";
  extra += format_usd(budget.spent);
  extra += R"(,"window":)";
  append_json_string(extra, budget.window);
  extra += R"(,"resets_at":)";
  append_json_string(extra, rfc3339(budget.resets_at));
  return ErrorResponse{mapping.status, error_body(failure, mapping.type, extra)};
}

std::string sse_error_event(const Failure& failure) {
  std::string event = "data: ";
  event += error_body(failure, http_mapping(failure.code).type, {});
  event += "\n\ndata: [DONE]\n\n";
  return event;
}

}  // namespace tollgate::api
