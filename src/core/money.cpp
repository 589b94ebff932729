#include "tollgate/core/money.hpp"

#include <limits>

namespace tollgate {

NanoUsd cost_of(Tokens tokens, PricePerMTok price) {
  if (tokens.value <= 0 || price.nano_usd <= 0) return NanoUsd{0};
  const __int128 product = static_cast<__int128>(tokens.value) * price.nano_usd;
  const __int128 cost = (product + 999'999) / 1'000'000;  // round up
  if (cost > std::numeric_limits<std::int64_t>::max()) {
    return NanoUsd{std::numeric_limits<std::int64_t>::max()};
  }
  return NanoUsd{static_cast<std::int64_t>(cost)};
}

std::optional<NanoUsd> parse_usd(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  std::int64_t whole = 0;
  std::size_t i = 0;
  bool any_digit = false;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (whole > (kMax / 10 - 9) / kNanoPerUsd) return std::nullopt;
    whole = whole * 10 + (text[i] - '0');
    any_digit = true;
  }
  std::int64_t frac = 0;
  int frac_digits = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      if (++frac_digits > 9) return std::nullopt;
      frac = frac * 10 + (text[i] - '0');
      any_digit = true;
    }
  }
  if (!any_digit || i != text.size()) return std::nullopt;
  for (int d = frac_digits; d < 9; ++d) frac *= 10;
  return NanoUsd{whole * kNanoPerUsd + frac};
}

std::string format_usd(NanoUsd amount) {
  std::int64_t v = amount.value;
  std::string out;
  if (v < 0) {
    out.push_back('-');
    v = -v;
  }
  out += std::to_string(v / kNanoPerUsd);
  std::int64_t frac = v % kNanoPerUsd;
  if (frac != 0) {
    std::string digits = std::to_string(frac);
    digits.insert(0, 9 - digits.size(), '0');
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    out += '.';
    out += digits;
  }
  return out;
}

}  // namespace tollgate
