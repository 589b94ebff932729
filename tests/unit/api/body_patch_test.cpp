#include "tollgate/api/body_patch.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

#include "json_check.hpp"

namespace tollgate::api {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_string(""), R"("")");
  EXPECT_EQ(json_string("gpt-4o"), R"("gpt-4o")");
  EXPECT_EQ(json_string("a\"b\\c/d"), R"("a\"b\\c/d")");
  EXPECT_EQ(json_string("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_string(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(json_string("caf\xc3\xa9 \xf0\x9f\x98\x80"), "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"");
}

TEST(JsonString, ReplacesInvalidUtf8SoTheOutputIsValidJson) {
  EXPECT_EQ(json_string("a\xff" "b"), R"("a\ufffdb")");
  EXPECT_EQ(json_string("\xc0\xaf"), R"("\ufffd\ufffd")");      // overlong
  EXPECT_EQ(json_string("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(json_string("\xe2\x82"), R"("\ufffd\ufffd")");      // truncated
  EXPECT_TRUE(test::is_valid_json(json_string("\xf4\x90\x80\x80\x80")));
}

TEST(ReplaceSpan, ReplacesAndInserts) {
  EXPECT_EQ(replace_span("abcdef", Span{2, 2}, "XYZ"), "abXYZef");
  EXPECT_EQ(replace_span("abcdef", Span{6, 0}, "!"), "abcdef!");
  EXPECT_EQ(replace_span("abcdef", Span{0, 6}, ""), "");
  EXPECT_THROW(replace_span("abc", Span{2, 2}, "x"), std::out_of_range);
  EXPECT_THROW(replace_span("abc", Span{4, 0}, "x"), std::out_of_range);
}

TEST(ApplyEdits, AnyOrderNonOverlapping) {
  const std::string body = "0123456789";
  EXPECT_EQ(apply_edits(body, {}), body);
  EXPECT_EQ(apply_edits(body, {Edit{Span{8, 1}, "h"}, Edit{Span{1, 2}, "ab"}, Edit{Span{10, 0}, "!"}}),
            "0ab34567h9!");
  // Two insertions at one point keep their order, before a replacement starting there.
  EXPECT_EQ(apply_edits(body, {Edit{Span{3, 2}, "R"}, Edit{Span{3, 0}, "a"}, Edit{Span{3, 0}, "b"}}),
            "012abR56789");
  // Touching spans are fine.
  EXPECT_EQ(apply_edits(body, {Edit{Span{0, 5}, "A"}, Edit{Span{5, 5}, "B"}}), "AB");
}

TEST(ApplyEdits, OverlapOrOutOfRangeIsABug) {
  EXPECT_THROW(apply_edits("0123456789", {Edit{Span{1, 3}, "a"}, Edit{Span{2, 3}, "b"}}), std::out_of_range);
  EXPECT_THROW(apply_edits("0123456789", {Edit{Span{1, 3}, "a"}, Edit{Span{2, 0}, "b"}}), std::out_of_range);
  EXPECT_THROW(apply_edits("0123", {Edit{Span{3, 2}, "a"}}), std::out_of_range);
}

TEST(InsertMember, AppendsAMemberBeforeTheBrace) {
  const std::string body = R"({"model":"m"} )";
  const Edit edit = insert_member(Span{12, 0}, "stream_options", R"({"include_usage":true})");
  EXPECT_EQ(edit.text, R"(,"stream_options":{"include_usage":true})");
  const std::string patched = apply_edits(body, {edit});
  EXPECT_EQ(patched, R"({"model":"m","stream_options":{"include_usage":true}} )");
  EXPECT_TRUE(test::is_valid_json(patched));
}

}  // namespace
}  // namespace tollgate::api
