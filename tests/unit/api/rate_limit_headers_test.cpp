#include "tollgate/api/rate_limit_headers.hpp"

#include <gtest/gtest.h>

namespace tollgate::api {
namespace {

using std::chrono::milliseconds;

TEST(OpenAiDuration, WritesDurationsTheWayOpenAiDoes) {
  EXPECT_EQ(openai_duration(milliseconds(0)), "0ms");
  EXPECT_EQ(openai_duration(milliseconds(20)), "20ms");
  EXPECT_EQ(openai_duration(milliseconds(999)), "999ms");
  EXPECT_EQ(openai_duration(milliseconds(1000)), "1s");
  EXPECT_EQ(openai_duration(milliseconds(1500)), "1.5s");
  EXPECT_EQ(openai_duration(milliseconds(1005)), "1.005s");
  EXPECT_EQ(openai_duration(milliseconds(60'000)), "1m0s");
  EXPECT_EQ(openai_duration(milliseconds(360'000)), "6m0s");
  EXPECT_EQ(openai_duration(milliseconds(61'250)), "1m1.25s");
  EXPECT_EQ(openai_duration(milliseconds(3'600'000)), "1h0m0s");
  EXPECT_EQ(openai_duration(milliseconds(-5)), "0ms");
}

TEST(BucketHeaders, NamesValuesAndClampedRemaining) {
  const auto h = bucket_headers("tokens", 20000, -3, milliseconds(6'000));
  EXPECT_EQ(h.limit.name, "x-ratelimit-limit-tokens");
  EXPECT_EQ(h.limit.value, "20000");
  EXPECT_EQ(h.remaining.name, "x-ratelimit-remaining-tokens");
  EXPECT_EQ(h.remaining.value, "0");
  EXPECT_EQ(h.reset.name, "x-ratelimit-reset-tokens");
  EXPECT_EQ(h.reset.value, "6s");
}

TEST(RetryAfter, WholeSecondsRoundedUpAtLeastOne) {
  EXPECT_EQ(retry_after_value(milliseconds(0)), "1");
  EXPECT_EQ(retry_after_value(milliseconds(1)), "1");
  EXPECT_EQ(retry_after_value(milliseconds(1000)), "1");
  EXPECT_EQ(retry_after_value(milliseconds(1001)), "2");
  EXPECT_EQ(retry_after_value(milliseconds(59'500)), "60");
}

}  // namespace
}  // namespace tollgate::api
