#include "tollgate/stream/chunk_inspector.hpp"

#include <string>

#include <gtest/gtest.h>

namespace tollgate::stream {
namespace {

using Kind = ChunkInfo::Kind;

TEST(InspectChunk, RoleChunkIsContentWithoutText) {
  const ChunkInfo info = inspect_chunk(
      R"({"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null})");
  EXPECT_EQ(info.kind, Kind::content);
  EXPECT_FALSE(info.has_content);
  EXPECT_EQ(info.content_bytes, 0u);
  EXPECT_EQ(info.min_tokens, Tokens{0});
  EXPECT_FALSE(info.prompt_tokens);
  EXPECT_FALSE(info.finish_reason);
}

TEST(InspectChunk, ContentChunk) {
  const ChunkInfo info = inspect_chunk(
      R"({"choices":[{"index":0,"delta":{"content":"Hello there, world"},"finish_reason":null}]})");
  EXPECT_EQ(info.kind, Kind::content);
  EXPECT_TRUE(info.has_content);
  EXPECT_EQ(info.content_bytes, 18u);
  EXPECT_EQ(info.min_tokens, Tokens{3});  // three words
}

TEST(InspectChunk, WhitespaceOnlyContentIsOneToken) {
  const ChunkInfo info = inspect_chunk(R"({"choices":[{"delta":{"content":"\n\n"}}]})");
  EXPECT_TRUE(info.has_content);
  EXPECT_EQ(info.content_bytes, 2u);
  EXPECT_EQ(info.min_tokens, Tokens{1});
}

TEST(InspectChunk, EscapesCountUnescapedBytes) {
  // "café 😀" = 3 + 2 + 1 + 4 bytes, whether escaped or not.
  EXPECT_EQ(inspect_chunk(R"({"choices":[{"delta":{"content":"caf\u00e9 \ud83d\ude00"}}]})").content_bytes,
            10u);
  EXPECT_EQ(inspect_chunk("{\"choices\":[{\"delta\":{\"content\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\"}}]}")
                .content_bytes,
            10u);
  EXPECT_EQ(inspect_chunk(R"({"choices":[{"delta":{"content":"a\"b\\c\n"}}]})").content_bytes, 6u);
}

TEST(InspectChunk, ToolCallArguments) {
  const ChunkInfo info = inspect_chunk(
      R"({"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": \"Paris\"}"}},{"index":1,"id":"x","function":{"name":"f","arguments":"{}"}}]},"finish_reason":null}]})");
  EXPECT_EQ(info.kind, Kind::content);
  EXPECT_TRUE(info.has_content);
  EXPECT_EQ(info.content_bytes, 21u + 2u);
  EXPECT_EQ(info.min_tokens, Tokens{3});
}

TEST(InspectChunk, RefusalAndReasoning) {
  const ChunkInfo info = inspect_chunk(
      R"({"choices":[{"delta":{"refusal":"No.","reasoning_content":"think"}}]})");
  EXPECT_EQ(info.content_bytes, 8u);
  EXPECT_EQ(info.min_tokens, Tokens{2});
}

TEST(InspectChunk, CompletionsText) {
  const ChunkInfo info = inspect_chunk(
      R"({"id":"cmpl-1","object":"text_completion","choices":[{"text":" upon","index":0,"logprobs":null,"finish_reason":null}]})");
  EXPECT_EQ(info.kind, Kind::content);
  EXPECT_EQ(info.content_bytes, 5u);
  EXPECT_TRUE(info.has_content);
}

TEST(InspectChunk, SeveralChoicesAddUp) {
  const ChunkInfo info =
      inspect_chunk(R"({"choices":[{"index":0,"delta":{"content":"ab"}},{"index":1,"delta":{"content":"cde"}}]})");
  EXPECT_EQ(info.content_bytes, 5u);
  EXPECT_EQ(info.min_tokens, Tokens{2});
}

TEST(InspectChunk, FinishChunk) {
  const ChunkInfo info =
      inspect_chunk(R"({"choices":[{"index":0,"delta":{},"finish_reason":"length"}],"usage":null})");
  EXPECT_EQ(info.kind, Kind::content);
  EXPECT_FALSE(info.has_content);
  EXPECT_EQ(info.finish_reason, "length");
}

TEST(InspectChunk, UsageOnlyChunk) {
  const ChunkInfo info = inspect_chunk(
      R"({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":0}}})");
  EXPECT_EQ(info.kind, Kind::usage_only);
  EXPECT_EQ(info.prompt_tokens, Tokens{12});
  EXPECT_EQ(info.completion_tokens, Tokens{3});
  EXPECT_FALSE(info.has_content);
}

TEST(InspectChunk, UsageWithoutChoicesIsUsageOnly) {
  const ChunkInfo info = inspect_chunk(R"({"usage":{"completion_tokens":7,"prompt_tokens":2}})");
  EXPECT_EQ(info.kind, Kind::usage_only);
  EXPECT_EQ(info.prompt_tokens, Tokens{2});
  EXPECT_EQ(info.completion_tokens, Tokens{7});
}

TEST(InspectChunk, UsageOnAContentChunk) {
  // vLLM's continuous usage stats: usage on every chunk; the chunk stays content.
  const ChunkInfo info = inspect_chunk(
      R"({"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}})");
  EXPECT_EQ(info.kind, Kind::content);
  EXPECT_EQ(info.completion_tokens, Tokens{1});
}

TEST(InspectChunk, NullUsageIsNotUsage) {
  EXPECT_EQ(inspect_chunk(R"({"choices":[],"usage":null})").kind, Kind::other);
  const ChunkInfo bad = inspect_chunk(R"({"choices":[],"usage":{"prompt_tokens":-1,"completion_tokens":1.5}})");
  EXPECT_EQ(bad.kind, Kind::usage_only);
  EXPECT_FALSE(bad.prompt_tokens);
  EXPECT_FALSE(bad.completion_tokens);
}

TEST(InspectChunk, InBandError) {
  const ChunkInfo info = inspect_chunk(
      R"({"error":{"message":"upstream reset","type":"api_error","code":"upstream_error","param":null}})");
  EXPECT_EQ(info.kind, Kind::error);
  EXPECT_EQ(inspect_chunk(R"({"error":null,"choices":[{"delta":{}}]})").kind, Kind::content);
}

TEST(InspectChunk, Done) {
  EXPECT_EQ(inspect_chunk("[DONE]").kind, Kind::done);
  EXPECT_EQ(inspect_chunk("[DONE] ").kind, Kind::other);
}

TEST(InspectChunk, MalformedIsOtherWithNothingSet) {
  for (const std::string_view data :
       {R"({"choices":[{"delta":{"content":"x"}})", R"({"choices":[]} x)", "", "[1,2]", "42",
        R"({"usage":{"prompt_tokens":1}, })", R"({"choices":[{"delta":{"content":"\x"}}]})",
        "{\"choices\":[{\"delta\":{\"content\":\"\xff\"}}]}", R"({"choices":[{"text":"a"}],"usage":{"prompt_tokens":1,"completion_tokens":2}})"
        "}"}) {
    const ChunkInfo info = inspect_chunk(data);
    EXPECT_EQ(info.kind, Kind::other) << data;
    EXPECT_FALSE(info.prompt_tokens) << data;
    EXPECT_EQ(info.content_bytes, 0u) << data;
    EXPECT_FALSE(info.has_content) << data;
  }
}

TEST(InspectChunk, UnknownShapesAreOther) {
  EXPECT_EQ(inspect_chunk(R"({"type":"ping"})").kind, Kind::other);
  EXPECT_EQ(inspect_chunk(R"({"choices":"x"})").kind, Kind::other);
  EXPECT_EQ(inspect_chunk(R"({})").kind, Kind::other);
}

}  // namespace
}  // namespace tollgate::stream
