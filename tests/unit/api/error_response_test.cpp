#include "tollgate/api/error_response.hpp"

#include <gtest/gtest.h>

#include "json_check.hpp"

namespace tollgate::api {
namespace {

struct MappingCase {
  Error error;
  unsigned status;
  const char* type;
  const char* code;
};

class ErrorMapping : public ::testing::TestWithParam<MappingCase> {};

TEST_P(ErrorMapping, StatusTypeCodePerSpec) {
  const MappingCase& c = GetParam();
  const ErrorResponse response = to_error_response(fail(c.error, "Something happened."));
  EXPECT_EQ(response.status, c.status);
  ASSERT_TRUE(test::is_valid_json(response.body)) << response.body;
  EXPECT_EQ(test::string_at(response.body, "/error/type"), c.type);
  EXPECT_EQ(test::string_at(response.body, "/error/code"), c.code);
  EXPECT_EQ(test::string_at(response.body, "/error/message"), "Something happened.");
}

// Every Error enumerator, in declaration order (SPEC section 4).
INSTANTIATE_TEST_SUITE_P(
    Spec, ErrorMapping,
    ::testing::Values(
        MappingCase{Error::invalid_request, 400, "invalid_request_error", "invalid_request"},
        MappingCase{Error::max_tokens_exceeded, 400, "invalid_request_error", "max_tokens_exceeded"},
        MappingCase{Error::invalid_api_key, 401, "authentication_error", "invalid_api_key"},
        MappingCase{Error::tenant_suspended, 403, "permission_error", "tenant_suspended"},
        MappingCase{Error::model_not_allowed, 403, "permission_error", "model_not_allowed"},
        MappingCase{Error::model_not_found, 404, "not_found_error", "model_not_found"},
        MappingCase{Error::not_found, 404, "not_found_error", "not_found"},
        MappingCase{Error::method_not_allowed, 405, "invalid_request_error", "method_not_allowed"},
        MappingCase{Error::request_too_large, 413, "invalid_request_error", "request_too_large"},
        MappingCase{Error::headers_too_large, 431, "invalid_request_error", "headers_too_large"},
        MappingCase{Error::rate_limited, 429, "rate_limit_error", "rate_limit_exceeded"},
        MappingCase{Error::budget_exceeded, 402, "insufficient_quota", "budget_exceeded"},
        MappingCase{Error::upstream_error, 502, "api_error", "upstream_error"},
        MappingCase{Error::upstream_timeout, 504, "api_error", "upstream_timeout"},
        MappingCase{Error::limits_unavailable, 503, "api_error", "limits_unavailable"}));

TEST(ErrorResponse, ExactBodyWithNullParam) {
  EXPECT_EQ(to_error_response(fail(Error::not_found, "Unknown route.")).body,
            R"({"error":{"message":"Unknown route.","type":"not_found_error","code":"not_found","param":null}})");
}

TEST(ErrorResponse, ParamAndEscaping) {
  const ErrorResponse response =
      to_error_response(fail(Error::invalid_request, "Bad \"value\"\nin\t'model' \\ \x01", "model"));
  EXPECT_EQ(response.body,
            R"({"error":{"message":"Bad \"value\"\nin\t'model' \\ \u0001","type":"invalid_request_error",)"
            R"("code":"invalid_request","param":"model"}})");
  EXPECT_TRUE(test::is_valid_json(response.body));
  EXPECT_EQ(test::string_at(response.body, "/error/param"), "model");
}

TEST(ErrorResponse, BudgetDetails) {
  using namespace std::chrono;
  const BudgetDetails budget{NanoUsd{500'000'000}, NanoUsd{512'300'000}, "daily",
                             sys_days{year{2026} / 11 / 23} + hours{0}};
  const ErrorResponse response =
      to_error_response(fail(Error::budget_exceeded, "Daily budget exhausted."), budget);
  EXPECT_EQ(response.status, 402u);
  EXPECT_EQ(response.body,
            R"({"error":{"message":"Daily budget exhausted.","type":"insufficient_quota","code":"budget_exceeded",)"
            R"("param":null,"limit_usd":0.5,"spent_usd":0.5123,"window":"daily","resets_at":"2026-11-23T00:00:00Z"}})");
  EXPECT_TRUE(test::is_valid_json(response.body));
  const BudgetDetails monthly{NanoUsd{15 * kNanoPerUsd}, NanoUsd{0}, "monthly",
                              sys_days{year{2027} / 1 / 1} + hours{13} + minutes{5} + seconds{9}};
  const std::string body = to_error_response(fail(Error::budget_exceeded, "x"), monthly).body;
  EXPECT_NE(body.find(R"("limit_usd":15,"spent_usd":0,"window":"monthly","resets_at":"2027-01-01T13:05:09Z")"),
            std::string::npos)
      << body;
}

TEST(SseErrorEvent, OneDataEventThenDone) {
  const std::string event = sse_error_event(fail(Error::budget_exceeded, "Budget exhausted mid-stream."));
  EXPECT_EQ(event,
            "data: {\"error\":{\"message\":\"Budget exhausted mid-stream.\",\"type\":\"insufficient_quota\","
            "\"code\":\"budget_exceeded\",\"param\":null}}\n\ndata: [DONE]\n\n");
  const std::string multiline = sse_error_event(fail(Error::upstream_error, "line1\nline2"));
  // A newline in the message must not break the SSE framing.
  EXPECT_EQ(multiline.find('\n'), multiline.find("\n\ndata: [DONE]"));
}

}  // namespace
}  // namespace tollgate::api
