#include "tollgate/stream/token_counter.hpp"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "tollgate/stream/chunk_inspector.hpp"
#include "tollgate/stream/sse_parser.hpp"

namespace tollgate::stream {
namespace {

// A stream shaped exactly like bench/mock_upstream's (mock_response.cpp SseScript): role chunk
// (chat), one chunk per token "tok<i> ", finish chunk, usage chunk when asked, [DONE]; with
// sse_comments, `: keep-alive` between events and CRLF endings.
std::string mock_stream(bool chat, int tokens, bool include_usage, bool comments) {
  const std::string end = comments ? "\r\n" : "\n";
  const std::string head = chat ? R"({"id":"chatcmpl-mock-1","object":"chat.completion.chunk","created":1732270000,"model":"gpt-4o-mini","choices":)"
                                : R"({"id":"cmpl-mock-1","object":"text_completion","created":1732270000,"model":"gpt-4o-mini","choices":)";
  const std::string usage_null = include_usage ? ",\"usage\":null}" : "}";
  std::string out;
  const auto event = [&](const std::string& data) {
    if (!out.empty() && comments) out += ": keep-alive" + end + end;
    out += "data: " + data + end + end;
  };
  if (chat) {
    event(head + R"([{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}])" + usage_null);
  }
  for (int i = 0; i < tokens; ++i) {
    const std::string token = "tok" + std::to_string(i) + " ";
    event(head + (chat ? R"([{"index":0,"delta":{"content":")" : R"([{"text":")") + token +
          (chat ? R"("},"finish_reason":null}])" : R"(","index":0,"logprobs":null,"finish_reason":null}])") +
          usage_null);
  }
  event(head + (chat ? R"([{"index":0,"delta":{},"finish_reason":"stop"}])"
                     : R"([{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}])") +
        usage_null);
  if (include_usage) {
    event(head + R"([],"usage":{"prompt_tokens":9,"completion_tokens":)" + std::to_string(tokens) +
          R"(,"total_tokens":)" + std::to_string(9 + tokens) + "}}");
  }
  event("[DONE]");
  return out;
}

struct Counted {
  Tokens counted;
  std::optional<Tokens> reported;
  int usage_chunks = 0;
  bool done = false;
};

Counted count_stream(const std::string& stream, std::size_t piece) {
  SseParser parser;
  CompletionCounter counter;
  Counted out;
  const auto on_event = [&](const SseEvent& e) {
    if (!e.has_data) return;
    const ChunkInfo info = inspect_chunk(e.data);
    counter.add(info);
    if (info.completion_tokens) out.reported = info.completion_tokens;
    if (info.kind == ChunkInfo::Kind::usage_only) ++out.usage_chunks;
    if (info.kind == ChunkInfo::Kind::done) out.done = true;
  };
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    EXPECT_TRUE(parser.feed(std::string_view(stream).substr(at, piece), on_event));
  }
  parser.finish(on_event);
  EXPECT_EQ(parser.unterminated(), "");
  out.counted = counter.tokens();
  return out;
}

TEST(CompletionCounter, ExactOnTheMocksStreams) {
  for (const bool chat : {true, false}) {
    for (const bool comments : {false, true}) {
      for (const int tokens : {0, 1, 16, 100, 1000, 12345}) {
        SCOPED_TRACE(std::to_string(chat) + " " + std::to_string(comments) + " " + std::to_string(tokens));
        const std::string stream = mock_stream(chat, tokens, true, comments);
        const Counted c = count_stream(stream, 97);
        ASSERT_EQ(c.reported, Tokens{tokens});  // the provider's own count, from the usage chunk
        EXPECT_EQ(c.counted, Tokens{tokens});
        EXPECT_EQ(c.usage_chunks, 1);
        EXPECT_TRUE(c.done);
        const Counted no_usage = count_stream(mock_stream(chat, tokens, false, comments), 4096);
        EXPECT_FALSE(no_usage.reported);
        EXPECT_EQ(no_usage.counted, Tokens{tokens});
        EXPECT_EQ(no_usage.usage_chunks, 0);
      }
    }
  }
}

ChunkInfo content(std::string_view json_text) {
  return inspect_chunk(std::string(R"({"choices":[{"delta":{"content":")") + std::string(json_text) +
                       R"("}}]})");
}

TEST(CompletionCounter, OnePerSingleTokenChunk) {
  CompletionCounter counter;
  // One token per chunk, as OpenAI streams them; long tokens do not count twice.
  for (const char* token : {"The", " quick", " brown", " fox", " implementation", ".", "\\n\\n"}) {
    counter.add(content(token));
  }
  counter.add(inspect_chunk(R"({"choices":[{"delta":{},"finish_reason":"stop"}]})"));
  EXPECT_EQ(counter.tokens(), Tokens{7});
}

TEST(CompletionCounter, BatchedChunksCountWords) {
  CompletionCounter counter;
  counter.add(content("The quick brown fox jumps over the lazy dog."));
  EXPECT_EQ(counter.tokens(), Tokens{9});  // cl100k: 10 tokens
}

TEST(CompletionCounter, ByteFloorForTextWithoutSpaces) {
  CompletionCounter counter;
  // 40 CJK characters (120 bytes) in one chunk: one "word", floored at 12 tokens.
  std::string cjk;
  for (int i = 0; i < 40; ++i) cjk += "\xE4\xBD\xA0";
  counter.add(content(cjk));
  EXPECT_EQ(counter.content_bytes(), 120u);
  EXPECT_EQ(counter.tokens(), Tokens{12});
}

TEST(CompletionCounter, IgnoresChunksWithoutContent) {
  CompletionCounter counter;
  counter.add(inspect_chunk("[DONE]"));
  counter.add(inspect_chunk(R"({"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}})"));
  counter.add(inspect_chunk("not json"));
  EXPECT_EQ(counter.tokens(), Tokens{0});
}

}  // namespace
}  // namespace tollgate::stream
