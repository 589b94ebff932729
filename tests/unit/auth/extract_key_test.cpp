#include <gtest/gtest.h>

#include "tollgate/auth/authenticate.hpp"

namespace tollgate::auth {
namespace {

TEST(ExtractKey, BearerAnyCase) {
  for (std::string_view h : {"Bearer k1", "bearer k1", "BEARER k1", "bEaReR k1"}) {
    EXPECT_EQ(extract_key(h, ""), "k1") << h;
  }
}

TEST(ExtractKey, BearerSpacing) {
  EXPECT_EQ(extract_key("Bearer    k1", ""), "k1");
  EXPECT_EQ(extract_key("Bearer k1  \t ", ""), "k1");
  EXPECT_EQ(extract_key("  Bearer k1", ""), "k1");
  EXPECT_EQ(extract_key("Bearer k1 k2", ""), "k1 k2");
}

TEST(ExtractKey, NotBearer) {
  EXPECT_EQ(extract_key("Bearerk1", ""), std::nullopt);
  EXPECT_EQ(extract_key("Bearer", ""), std::nullopt);
  EXPECT_EQ(extract_key("Bearer   ", ""), std::nullopt);
  EXPECT_EQ(extract_key("Basic dXNlcjpwYXNz", ""), std::nullopt);
  EXPECT_EQ(extract_key("k1", ""), std::nullopt);
  EXPECT_EQ(extract_key("Bear k1", ""), std::nullopt);
}

TEST(ExtractKey, BearerTakesPrecedence) {
  EXPECT_EQ(extract_key("Bearer k1", "k2"), "k1");
}

TEST(ExtractKey, XApiKeyFallback) {
  EXPECT_EQ(extract_key("", "k2"), "k2");
  EXPECT_EQ(extract_key("", " \tk2 \t"), "k2");
  EXPECT_EQ(extract_key("Basic dXNlcjpwYXNz", "k2"), "k2");
  EXPECT_EQ(extract_key("Bearer  ", "k2"), "k2");
}

TEST(ExtractKey, BothAbsent) {
  EXPECT_EQ(extract_key("", ""), std::nullopt);
  EXPECT_EQ(extract_key("", "   "), std::nullopt);
}

}  // namespace
}  // namespace tollgate::auth
