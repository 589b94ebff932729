#pragma once
// Strong integer types for money and tokens, shared by config, pricing, limits and usage.
// Money is integer nano-USD everywhere; prices are nano-USD per million tokens.
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tollgate {

struct NanoUsd {
  std::int64_t value = 0;
  friend auto operator<=>(const NanoUsd&, const NanoUsd&) = default;
  friend NanoUsd operator+(NanoUsd a, NanoUsd b) { return NanoUsd{a.value + b.value}; }
  friend NanoUsd operator-(NanoUsd a, NanoUsd b) { return NanoUsd{a.value - b.value}; }
};

struct Tokens {
  std::int64_t value = 0;
  friend auto operator<=>(const Tokens&, const Tokens&) = default;
  friend Tokens operator+(Tokens a, Tokens b) { return Tokens{a.value + b.value}; }
  friend Tokens operator-(Tokens a, Tokens b) { return Tokens{a.value - b.value}; }
};

// Price of one million tokens, in nano-USD ($2.50/Mtok == 2'500'000'000).
struct PricePerMTok {
  std::int64_t nano_usd = 0;
  friend auto operator<=>(const PricePerMTok&, const PricePerMTok&) = default;
};

inline constexpr std::int64_t kNanoPerUsd = 1'000'000'000;

// Cost of `tokens` at `price`, rounded up to a whole nano-USD so a bill never undercounts.
// Exact for every tokens < 2^63 / price (128-bit intermediate).
NanoUsd cost_of(Tokens tokens, PricePerMTok price);

// Parses a non-negative decimal USD amount ("2.50", "0.15", "15", "1e-3" is rejected) into
// nano-USD, exactly. nullopt on anything else, on more than 9 fractional digits, or overflow.
std::optional<NanoUsd> parse_usd(std::string_view text);

// Formats nano-USD as a JSON number in USD with no trailing zeros: 12300000 -> "0.0123".
std::string format_usd(NanoUsd amount);

}  // namespace tollgate
