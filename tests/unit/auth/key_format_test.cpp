#include "tollgate/auth/key_format.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tollgate::auth {
namespace {

constexpr std::string_view kGood = "tg_a1B2c3D4_0123456789abcdefghijABCDEFGHIJxy";

TEST(KeyFormat, Constants) {
  EXPECT_EQ(kBase62Alphabet.size(), 62u);
  EXPECT_EQ(kKeyLength, 44u);
  EXPECT_EQ(kGood.size(), kKeyLength);
}

TEST(KeyFormat, WellFormed) {
  EXPECT_TRUE(is_well_formed(kGood));
  EXPECT_EQ(key_prefix(kGood), "tg_a1B2c3D4");
}

TEST(KeyFormat, RejectsWrongShapes) {
  const std::string good(kGood);
  EXPECT_FALSE(is_well_formed(""));
  EXPECT_FALSE(is_well_formed("tg_"));
  EXPECT_FALSE(is_well_formed(good.substr(0, 43)));
  EXPECT_FALSE(is_well_formed(good + "a"));
  EXPECT_FALSE(is_well_formed("TG_" + good.substr(3)));
  EXPECT_FALSE(is_well_formed("sk_" + good.substr(3)));
  EXPECT_FALSE(is_well_formed("sk-proj-0123456789abcdefghijABCDEFGHIJxyzabc"));
  // The separator is at position 11 exactly.
  std::string moved = good;
  std::swap(moved[11], moved[12]);
  EXPECT_FALSE(is_well_formed(moved));
  for (std::size_t pos : {3u, 10u, 12u, 43u}) {
    for (char bad : {'_', '-', ' ', '+', '/', '=', '\0', '\xc3'}) {
      std::string s = good;
      s[pos] = bad;
      EXPECT_FALSE(is_well_formed(s)) << "pos " << pos << " char " << int(bad);
    }
  }
}

TEST(KeyFormat, PrefixOfMalformedKeyIsEmpty) {
  EXPECT_EQ(key_prefix(""), "");
  EXPECT_EQ(key_prefix("tg_a1B2c3D4"), "");
  EXPECT_EQ(key_prefix("sk-proj-0123456789abcdefghijABCDEFGHIJxyzabc"), "");
  EXPECT_EQ(key_prefix(std::string(kGood) + "x"), "");
}

TEST(KeyFormat, Base62) {
  for (char c : kBase62Alphabet) EXPECT_TRUE(is_base62(c)) << c;
  int count = 0;
  for (int c = -128; c < 128; ++c) count += is_base62(static_cast<char>(c)) ? 1 : 0;
  EXPECT_EQ(count, 62);
}

}  // namespace
}  // namespace tollgate::auth
