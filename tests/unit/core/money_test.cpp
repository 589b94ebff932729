#include "tollgate/core/money.hpp"

#include <gtest/gtest.h>

namespace tollgate {
namespace {

TEST(Money, ParsesDecimalUsdExactly) {
  EXPECT_EQ(parse_usd("2.50")->value, 2'500'000'000);
  EXPECT_EQ(parse_usd("0.15")->value, 150'000'000);
  EXPECT_EQ(parse_usd("15")->value, 15'000'000'000);
  EXPECT_EQ(parse_usd("0.000000001")->value, 1);
  EXPECT_EQ(parse_usd(".5")->value, 500'000'000);
}

TEST(Money, RejectsWhatIsNotAPlainDecimal) {
  for (const char* bad : {"", ".", "-1", "1e3", "0.0000000001", "abc", "1.2.3", " 1", "1 ",
                          "99999999999999999999"}) {
    EXPECT_FALSE(parse_usd(bad).has_value()) << bad;
  }
}

TEST(Money, CostMatchesTheSpecExample) {
  // SPEC section 6: 812 input + 233 output tokens on gpt-4o-mini = 261600 nano-USD.
  const PricePerMTok input{parse_usd("0.15")->value};
  const PricePerMTok output{parse_usd("0.60")->value};
  EXPECT_EQ((cost_of(Tokens{812}, input) + cost_of(Tokens{233}, output)).value, 261'600);
}

TEST(Money, CostRoundsUpToAWholeNanoUsd) {
  EXPECT_EQ(cost_of(Tokens{1}, PricePerMTok{1}).value, 1);
  EXPECT_EQ(cost_of(Tokens{1'000'000}, PricePerMTok{1}).value, 1);
  EXPECT_EQ(cost_of(Tokens{1'000'001}, PricePerMTok{1}).value, 2);
  EXPECT_EQ(cost_of(Tokens{0}, PricePerMTok{2'500'000'000}).value, 0);
}

TEST(Money, CostSaturatesInsteadOfOverflowing) {
  EXPECT_EQ(cost_of(Tokens{INT64_MAX}, PricePerMTok{INT64_MAX}).value, INT64_MAX);
}

TEST(Money, FormatsUsdWithoutTrailingZeros) {
  EXPECT_EQ(format_usd(NanoUsd{12'300'000}), "0.0123");
  EXPECT_EQ(format_usd(NanoUsd{15'000'000'000}), "15");
  EXPECT_EQ(format_usd(NanoUsd{1}), "0.000000001");
  EXPECT_EQ(format_usd(NanoUsd{0}), "0");
  EXPECT_EQ(format_usd(NanoUsd{-500'000'000}), "-0.5");
}

}  // namespace
}  // namespace tollgate
