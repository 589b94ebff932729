#include "tollgate/api/usage_report.hpp"

#include <gtest/gtest.h>

namespace tollgate::api {
namespace {

using namespace std::chrono;

TEST(UsageReport, SpecShapeWithNullsForWhatThePlanDoesNotSet) {
  const UsageWindow daily{sys_days{2026y / November / 22}, sys_days{2026y / November / 23}, 12, Tokens{9000},
                          Tokens{2100}, NanoUsd{12'300'000}, NanoUsd{500'000'000}};
  const UsageWindow monthly{sys_days{2026y / November / 1}, sys_days{2026y / December / 1}, 340, Tokens{1},
                            Tokens{1}, NanoUsd{1'230'000'000}, std::nullopt};
  config::Limits limits;
  limits.requests_per_minute = 10;
  limits.max_concurrent = 5;
  EXPECT_EQ(usage_report_json("acme", "free", daily, monthly, limits),
            R"({"tenant":"acme","plan":"free",)"
            R"("daily":{"start":"2026-11-22T00:00:00Z","resets_at":"2026-11-23T00:00:00Z","requests":12,)"
            R"("input_tokens":9000,"output_tokens":2100,"spent_usd":0.0123,"limit_usd":0.5},)"
            R"("monthly":{"start":"2026-11-01T00:00:00Z","resets_at":"2026-12-01T00:00:00Z","requests":340,)"
            R"("input_tokens":1,"output_tokens":1,"spent_usd":1.23,"limit_usd":null},)"
            R"("limits":{"requests_per_minute":10,"requests_per_day":null,"tokens_per_minute":null,)"
            R"("max_tokens_per_request":null,"max_concurrent":5}})");
}

}  // namespace
}  // namespace tollgate::api
