#include "tollgate/api/rate_limit_headers.hpp"

#include <algorithm>

namespace tollgate::api {

std::string openai_duration(std::chrono::milliseconds duration) {
  std::int64_t ms = std::max<std::int64_t>(0, duration.count());
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string out;
  const std::int64_t hours = ms / 3'600'000;
  const std::int64_t minutes = ms / 60'000 % 60;
  ms %= 60'000;
  if (hours > 0) out += std::to_string(hours) + "h";
  if (hours > 0 || minutes > 0) out += std::to_string(minutes) + "m";
  out += std::to_string(ms / 1000);
  if (std::int64_t frac = ms % 1000; frac != 0) {
    std::string digits = std::to_string(frac + 1000).substr(1);  // three digits, zero-padded
    digits.erase(digits.find_last_not_of('0') + 1);
    out += "." + digits;
  }
  out += "s";
  return out;
}

BucketHeaders bucket_headers(std::string_view unit, std::int64_t limit, std::int64_t remaining,
                             std::chrono::milliseconds reset) {
  const std::string suffix(unit);
  return BucketHeaders{{"x-ratelimit-limit-" + suffix, std::to_string(limit)},
                       {"x-ratelimit-remaining-" + suffix, std::to_string(std::max<std::int64_t>(0, remaining))},
                       {"x-ratelimit-reset-" + suffix, openai_duration(reset)}};
}

std::string retry_after_value(std::chrono::milliseconds wait) {
  const std::int64_t seconds = (std::max<std::int64_t>(0, wait.count()) + 999) / 1000;
  return std::to_string(std::max<std::int64_t>(1, seconds));
}

}  // namespace tollgate::api
