// The text parsers behind the config readers, case by case.
#include "scalars.hpp"

#include <gtest/gtest.h>

namespace tollgate::config::detail {
namespace {

using namespace std::chrono;

TEST(PositiveInt, AcceptsOnlyPlainDigits) {
  EXPECT_EQ(parse_positive_int("1"), 1);
  EXPECT_EQ(parse_positive_int("9223372036854775807"), INT64_MAX);
  EXPECT_FALSE(parse_positive_int("0"));
  EXPECT_FALSE(parse_positive_int("-1"));
  EXPECT_FALSE(parse_positive_int("+1"));
  EXPECT_FALSE(parse_positive_int("1e3"));
  EXPECT_FALSE(parse_positive_int("0x10"));
  EXPECT_FALSE(parse_positive_int("1_000"));
  EXPECT_FALSE(parse_positive_int(""));
  EXPECT_FALSE(parse_positive_int("9223372036854775808"));
}

TEST(Fraction, IsInZeroToOne) {
  EXPECT_EQ(parse_fraction("0.8"), 0.8);
  EXPECT_EQ(parse_fraction("1"), 1.0);
  EXPECT_FALSE(parse_fraction("0"));
  EXPECT_FALSE(parse_fraction("1.01"));
  EXPECT_FALSE(parse_fraction("8e-1"));
  EXPECT_FALSE(parse_fraction("-0.5"));
}

TEST(Url, KeepsPathWithoutTrailingSlash) {
  auto u = parse_url("https://api.openai.com/v1/", {"http", "https"});
  ASSERT_TRUE(u.value) << u.error;
  EXPECT_EQ(u.value->scheme, "https");
  EXPECT_EQ(u.value->host, "api.openai.com");
  EXPECT_EQ(u.value->port, 443);
  EXPECT_EQ(u.value->path, "/v1");
  EXPECT_TRUE(u.value->tls());
}

TEST(Url, ExplicitPortAndNoPath) {
  auto u = parse_url("http://127.0.0.1:8081", {"http", "https"});
  ASSERT_TRUE(u.value) << u.error;
  EXPECT_EQ(u.value->port, 8081);
  EXPECT_EQ(u.value->path, "");
  EXPECT_FALSE(u.value->tls());
}

TEST(Url, Ipv6Host) {
  auto u = parse_url("http://[::1]:9000/v1", {"http"});
  ASSERT_TRUE(u.value) << u.error;
  EXPECT_EQ(u.value->host, "::1");
  EXPECT_EQ(u.value->port, 9000);
}

TEST(Url, Rejects) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"api.openai.com/v1", "expected a URL like http://host[:port][/path]"},
      {"ftp://x", "unsupported URL scheme \"ftp\" (expected http or https)"},
      {"http://", "URL has no host"},
      {"http://:80/v1", "URL has no host"},
      {"http://x:0", "URL has an invalid port (expected 1..65535)"},
      {"http://x:65536", "URL has an invalid port (expected 1..65535)"},
      {"http://x:", "URL has an invalid port (expected 1..65535)"},
      {"http://x/v1?a=b", "URL must not have a query or fragment"},
      {"http://a b/", "URL has an invalid host"},
      {"http://[::1/", "URL has an unterminated [IPv6] host"},
      {"http://[zz]/", "URL has an invalid IPv6 host"},
  };
  for (const auto& [text, error] : bad) {
    auto u = parse_url(text, {"http", "https"});
    EXPECT_FALSE(u.value) << text;
    EXPECT_EQ(u.error, error) << text;
  }
}

TEST(Url, NeverEchoesCredentials) {
  auto u = parse_url("https://user:hunter2@x/v1", {"https"});
  EXPECT_FALSE(u.value);
  EXPECT_EQ(u.error.find("hunter2"), std::string::npos);
}

TEST(HostPort, Accepts) {
  auto a = parse_host_port("0.0.0.0:8080");
  ASSERT_TRUE(a.value);
  EXPECT_EQ(a.value->host, "0.0.0.0");
  EXPECT_EQ(a.value->port, 8080);
  auto b = parse_host_port("[::1]:0");
  ASSERT_TRUE(b.value);
  EXPECT_EQ(b.value->host, "::1");
  EXPECT_EQ(b.value->port, 0);
  auto c = parse_host_port("localhost:65535");
  ASSERT_TRUE(c.value);
  EXPECT_EQ(c.value->port, 65535);
}

TEST(HostPort, Rejects) {
  EXPECT_EQ(parse_host_port("[::1]").error, "expected host:port, got \"[::1]\"");
  EXPECT_EQ(parse_host_port("1.2.3:80").error,
            "expected an IPv4 address, [IPv6] address or localhost before the port, got \"1.2.3:80\"");
  EXPECT_EQ(parse_host_port("[1.2.3.4]:80").error, "invalid IPv6 address in \"[1.2.3.4]:80\"");
  EXPECT_EQ(parse_host_port("1.2.3.4:").error, "port must be 0..65535 in \"1.2.3.4:\"");
  EXPECT_EQ(parse_host_port("1.2.3.4:-1").error, "port must be 0..65535 in \"1.2.3.4:-1\"");
}

TEST(Date, RealCalendarDatesOnly) {
  EXPECT_EQ(parse_date("2027-06-30"), sys_days{year{2027} / June / 30});
  EXPECT_EQ(parse_date("2028-02-29"), sys_days{year{2028} / February / 29});
  EXPECT_FALSE(parse_date("2027-02-29"));
  EXPECT_FALSE(parse_date("2027-02-30"));
  EXPECT_FALSE(parse_date("2027-13-01"));
  EXPECT_FALSE(parse_date("2027-6-30"));
  EXPECT_FALSE(parse_date("27-06-30"));
  EXPECT_FALSE(parse_date("2027/06/30"));
}

TEST(Sha256Hex, DecodesEitherCase) {
  auto h = parse_sha256_hex("00ff" + std::string(56, '0') + "AbCd");
  ASSERT_TRUE(h.value);
  EXPECT_EQ((*h.value)[0], 0x00);
  EXPECT_EQ((*h.value)[1], 0xff);
  EXPECT_EQ((*h.value)[30], 0xab);
  EXPECT_EQ((*h.value)[31], 0xcd);
}

TEST(KeyPrefix, IsTgAndEightAlnum) {
  EXPECT_TRUE(is_key_prefix("tg_a1b2c3d4"));
  EXPECT_TRUE(is_key_prefix("tg_demo0000"));
  EXPECT_FALSE(is_key_prefix("tg_a1b2c3d"));
  EXPECT_FALSE(is_key_prefix("tg_a1b2c3d45"));
  EXPECT_FALSE(is_key_prefix("tg_a1b2-3d4"));
  EXPECT_FALSE(is_key_prefix("TG_a1b2c3d4"));
}

TEST(EnvName, PosixNames) {
  EXPECT_TRUE(is_env_name("OPENAI_API_KEY"));
  EXPECT_TRUE(is_env_name("_x1"));
  EXPECT_FALSE(is_env_name("1X"));
  EXPECT_FALSE(is_env_name("A-B"));
  EXPECT_FALSE(is_env_name(""));
}

TEST(InQuotes, EscapesAndTruncates) {
  EXPECT_EQ(in_quotes("a\"b\n"), "\"a\\\"b\\x0a\"");
  EXPECT_EQ(in_quotes(std::string(70, 'x')), "\"" + std::string(64, 'x') + "...\"");
}

}  // namespace
}  // namespace tollgate::config::detail
