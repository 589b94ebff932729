#include "tollgate/core/json_string.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate {
namespace {

TEST(JsonString, PlainAsciiIsCopiedAsItIs) {
  EXPECT_EQ(json_string(""), "\"\"");
  EXPECT_EQ(json_string("gpt-4o-mini"), "\"gpt-4o-mini\"");
  EXPECT_EQ(json_string(" ~!#$%&'()*+,-./:;<=>?@[]^_`{|}\x7f"), "\" ~!#$%&'()*+,-./:;<=>?@[]^_`{|}\x7f\"");
}

TEST(JsonString, QuoteBackslashAndControlsAreEscaped) {
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_string(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
}

TEST(JsonString, RunsBetweenEscapesAreKeptInOrder) {
  EXPECT_EQ(json_string("\"lead"), R"("\"lead")");
  EXPECT_EQ(json_string("trail\""), R"("trail\"")");
  EXPECT_EQ(json_string("one\ntwo\tthree\\four"), R"("one\ntwo\tthree\\four")");
  EXPECT_EQ(json_string("caf\xc3\xa9 ok \xe2\x82\xac!"), "\"caf\xc3\xa9 ok \xe2\x82\xac!\"");
}

TEST(JsonString, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(json_string("a\xff" "b"), R"("a\ufffdb")");
  EXPECT_EQ(json_string("x\xc3"), R"("x\ufffd")");              // truncated sequence
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");       // overlong form
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(json_string("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
}

TEST(JsonString, EveryByteIsHandledAtEveryPositionOfALongString) {
  // The plain-run scan reads eight bytes at a time: put each kind of byte at each offset.
  const std::vector<std::pair<std::string, std::string>> cases{
      {"\"", "\\\""},          {"\\", "\\\\"},     {"\n", "\\n"},       {"\x1f", "\\u001f"},
      {"\x7f", "\x7f"},          {"\xc3\xa9", "\xc3\xa9"}, {"\xff", "\\ufffd"}};
  for (const auto& [special, escaped] : cases) {
    for (std::size_t at = 0; at < 20; ++at) {
      std::string text(at, 'a');
      text += special;
      text.append(19 - at, 'b');
      std::string expected = "\"";
      expected.append(at, 'a');
      expected += escaped;
      expected.append(19 - at, 'b');
      expected += '"';
      EXPECT_EQ(json_string(text), expected) << at;
    }
  }
}

TEST(JsonString, AppendsToWhatIsAlreadyThere) {
  std::string out = "{\"k\":";
  append_json_string(out, "v\"");
  EXPECT_EQ(out, R"({"k":"v\"")");
}

}  // namespace
}  // namespace tollgate
