#include "tollgate/redis/reply.hpp"

#include <hiredis/hiredis.h>
#include <gtest/gtest.h>

#include <memory>
#include <string_view>

#include "hiredis_reply.hpp"
#include "tollgate/redis/script.hpp"

namespace tollgate::redis {
namespace {

// Parses raw RESP with hiredis's own reader, as the client does, and converts the result.
Reply parse(std::string_view resp) {
  std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(), &redisReaderFree);
  EXPECT_EQ(redisReaderFeed(reader.get(), resp.data(), resp.size()), REDIS_OK);
  void* raw = nullptr;
  EXPECT_EQ(redisReaderGetReply(reader.get(), &raw), REDIS_OK);
  EXPECT_NE(raw, nullptr);
  if (raw == nullptr) return {};
  Reply out = from_hiredis(*static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return out;
}

TEST(Reply, Scalars) {
  auto r = parse("+OK\r\n");
  EXPECT_EQ(r.type, Reply::Type::status);
  EXPECT_EQ(r.text, "OK");

  r = parse(":-42\r\n");
  EXPECT_EQ(r.type, Reply::Type::integer);
  EXPECT_EQ(r.integer, -42);
  EXPECT_EQ(r.as_integer(), -42);

  r = parse("$-1\r\n");
  EXPECT_TRUE(r.is_nil());
  EXPECT_FALSE(r.as_integer());
}

TEST(Reply, BinarySafeBulkString) {
  const auto r = parse(std::string_view("$5\r\na\0b\r\n\r\n", 11));
  EXPECT_EQ(r.type, Reply::Type::string);
  EXPECT_EQ(r.text, std::string_view("a\0b\r\n", 5));
}

TEST(Reply, NestedArrays) {
  const auto r = parse("*3\r\n:1\r\n*2\r\n$3\r\nfoo\r\n$-1\r\n$2\r\n17\r\n");
  ASSERT_EQ(r.type, Reply::Type::array);
  ASSERT_EQ(r.elements.size(), 3u);
  EXPECT_EQ(r.elements[0].integer, 1);
  ASSERT_EQ(r.elements[1].elements.size(), 2u);
  EXPECT_EQ(r.elements[1].elements[0].text, "foo");
  EXPECT_TRUE(r.elements[1].elements[1].is_nil());
  EXPECT_EQ(r.elements[2].as_integer(), 17);
}

TEST(Reply, ErrorCodes) {
  const auto noscript = parse("-NOSCRIPT No matching script. Please use EVAL.\r\n");
  EXPECT_TRUE(noscript.is_error());
  EXPECT_TRUE(noscript.has_error_code("NOSCRIPT"));
  EXPECT_FALSE(noscript.has_error_code("NOSCRIPTX"));
  EXPECT_FALSE(noscript.has_error_code("NOSCRIP"));
  EXPECT_TRUE(parse("-READONLY You can't write against a read only replica.\r\n").has_error_code("READONLY"));
  EXPECT_FALSE(parse("+NOSCRIPT\r\n").has_error_code("NOSCRIPT"));  // a status, not an error
}

TEST(Reply, AsIntegerRejectsNonNumbers) {
  EXPECT_FALSE(parse("$3\r\n1.5\r\n").as_integer());
  EXPECT_FALSE(parse("$0\r\n\r\n").as_integer());
  EXPECT_FALSE(parse("$2\r\n1x\r\n").as_integer());
}

TEST(Script, Sha1MatchesRedis) {
  // SCRIPT LOAD "return 1" answers this SHA1.
  const auto script = Script::make("one", "return 1");
  EXPECT_EQ(script.sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(sha1_hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

}  // namespace
}  // namespace tollgate::redis
