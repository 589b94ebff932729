#pragma once
// Emit stage: OpenAI's rate-limit headers (x-ratelimit-*) and Retry-After, written the way
// OpenAI writes them so SDKs and dashboards that parse them keep working.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate::api {

// A duration as OpenAI (Go's time.Duration) writes it: "20ms", "1s", "1.5s", "6m0s", "1h0m0s".
std::string openai_duration(std::chrono::milliseconds duration);

// One per-minute bucket's three headers, e.g. x-ratelimit-limit-requests,
// x-ratelimit-remaining-requests, x-ratelimit-reset-requests for unit "requests".
struct RateLimitHeader {
  std::string name;
  std::string value;
};
struct BucketHeaders {
  RateLimitHeader limit, remaining, reset;
};
BucketHeaders bucket_headers(std::string_view unit, std::int64_t limit, std::int64_t remaining,
                             std::chrono::milliseconds reset);

// Retry-After: whole seconds, rounded up, at least 1 (SPEC section 4).
std::string retry_after_value(std::chrono::milliseconds wait);

}  // namespace tollgate::api
