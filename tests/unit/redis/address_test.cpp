#include "tollgate/redis/address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tollgate::redis {
namespace {

TEST(ParseRedisUrl, HostPortAndDb) {
  const auto a = parse_redis_url("redis://10.0.0.5:6380/3");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 6380);
  EXPECT_EQ(a->db, 3);
  EXPECT_TRUE(a->password.empty());
  EXPECT_TRUE(a->username.empty());
  EXPECT_EQ(a->describe(), "10.0.0.5:6380/3");
}

TEST(ParseRedisUrl, Defaults) {
  for (const char* url : {"redis://localhost", "redis://localhost/", "redis://localhost:6379/0"}) {
    const auto a = parse_redis_url(url);
    ASSERT_TRUE(a) << url << ": " << a.error().message;
    EXPECT_EQ(a->host, "localhost");
    EXPECT_EQ(a->port, 6379);
    EXPECT_EQ(a->db, 0);
  }
}

TEST(ParseRedisUrl, PasswordOnly) {
  const auto a = parse_redis_url("redis://:s3cret@127.0.0.1:6379/0");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->password, "s3cret");
  EXPECT_TRUE(a->username.empty());
  EXPECT_EQ(a->describe().find("s3cret"), std::string::npos);
}

TEST(ParseRedisUrl, UserAndPercentEncodedPassword) {
  const auto a = parse_redis_url("redis://gateway:p%40ss%3Aw0rd@redis.internal:7000/1");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->username, "gateway");
  EXPECT_EQ(a->password, "p@ss:w0rd");
  EXPECT_EQ(a->host, "redis.internal");
  EXPECT_EQ(a->port, 7000);
  EXPECT_EQ(a->db, 1);
}

TEST(ParseRedisUrl, BarePasswordWithoutColon) {
  const auto a = parse_redis_url("redis://hunter2@127.0.0.1");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->password, "hunter2");
}

TEST(ParseRedisUrl, Ipv6) {
  const auto a = parse_redis_url("redis://[::1]:6390/2");
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 6390);
  EXPECT_EQ(a->describe(), "[::1]:6390/2");
}

TEST(ParseRedisUrl, RejectsMalformed) {
  for (const char* url : {"", "127.0.0.1:6379", "http://127.0.0.1", "rediss://127.0.0.1", "redis://",
                          "redis://:6379", "redis://host:", "redis://host:0", "redis://host:65536",
                          "redis://host:12ab", "redis://host/x", "redis://host/-1", "redis://[::1",
                          "redis://[zz::1]:6379", "redis://[::1]x", "redis://host?timeout=1", "redis://ho st",
                          "redis://:@host"}) {
    const auto a = parse_redis_url(url);
    EXPECT_FALSE(a) << url;
    if (!a) {
      EXPECT_EQ(a.error().code, Error::limits_unavailable);
      EXPECT_NE(a.error().message.find("invalid redis url"), std::string::npos);
    }
  }
}

// Whatever is wrong with the URL, the error message never repeats the password.
TEST(ParseRedisUrl, ErrorsNeverContainThePassword) {
  const std::string secret = "Sup3rS3cretPw";
  const std::vector<std::string> urls = {
      "redis://:" + secret + "@host:notaport/0",
      "redis://:" + secret + "@host:99999/0",
      "redis://:" + secret + "@host/notadb",
      "redis://user:" + secret + "@[::1/0",
      "redis://:" + secret + "%zz@host",
      "rediss://:" + secret + "@host",
      "http://:" + secret + "@host",
      "redis://:" + secret + "@ho st:6379",
      "redis://:" + secret + "@host?x=" + secret,
      "redis://:" + secret + "@",
  };
  for (const auto& url : urls) {
    const auto a = parse_redis_url(url);
    if (a) {
      EXPECT_EQ(a->describe().find(secret), std::string::npos) << url;
      continue;
    }
    EXPECT_EQ(a.error().message.find(secret), std::string::npos) << a.error().message;
    EXPECT_EQ(a.error().message.find("Sup3r"), std::string::npos) << a.error().message;
  }
}

}  // namespace
}  // namespace tollgate::redis
