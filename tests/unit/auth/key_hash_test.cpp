#include "tollgate/auth/key_hash.hpp"

#include <cctype>

#include <gtest/gtest.h>

namespace tollgate::auth {
namespace {

constexpr std::string_view kEmptyHex =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr std::string_view kAbcHex =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST(KeyHash, KnownVectors) {
  EXPECT_EQ(to_hex(sha256("")), kEmptyHex);
  EXPECT_EQ(to_hex(sha256("abc")), kAbcHex);
}

TEST(KeyHash, HashesEmbeddedNulBytes) {
  using namespace std::string_view_literals;
  EXPECT_NE(sha256("a\0b"sv), sha256("a"sv));
}

TEST(KeyHash, HexRoundTrip) {
  const config::Sha256 digest = sha256("abc");
  const auto parsed = from_hex(to_hex(digest));
  ASSERT_TRUE(parsed);
  EXPECT_EQ(*parsed, digest);
}

TEST(KeyHash, FromHexAcceptsUpperCase) {
  std::string upper(kAbcHex);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const auto parsed = from_hex(upper);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(to_hex(*parsed), kAbcHex);
}

TEST(KeyHash, FromHexRejectsBadInput) {
  const std::string good(kAbcHex);
  EXPECT_FALSE(from_hex(""));
  EXPECT_FALSE(from_hex(good.substr(0, 63)));
  EXPECT_FALSE(from_hex(good + "0"));
  EXPECT_FALSE(from_hex(good + good));
  for (const char bad : {'g', 'G', ' ', 'x', '-', '\0'}) {
    std::string s = good;
    s[10] = bad;
    EXPECT_FALSE(from_hex(s)) << "char " << int(bad);
  }
  std::string leading_space = good;
  leading_space[0] = ' ';
  EXPECT_FALSE(from_hex(leading_space));
}

TEST(KeyHash, IndexKeyIsTheRawDigest) {
  const config::Sha256 digest = sha256("abc");
  const std::string key = config::key_index_key(digest);
  ASSERT_EQ(key.size(), 32u);
  EXPECT_EQ(static_cast<unsigned char>(key[0]), 0xba);
  EXPECT_EQ(static_cast<unsigned char>(key[31]), 0xad);
}

}  // namespace
}  // namespace tollgate::auth
