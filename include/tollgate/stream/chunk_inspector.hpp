#pragma once
// Relay/count stage: what one streamed chunk's JSON says, for accounting (usage, content size,
// in-band errors) and for dropping the usage-only chunk the client did not ask for.
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/core/money.hpp"

namespace tollgate::stream {

struct ChunkInfo {
  enum class Kind {
    content,     // a non-empty `choices` array: role, content, tool-call and finish chunks
    usage_only,  // `choices` empty or absent and `usage` an object: OpenAI's include_usage chunk
    error,       // a top-level `error` object: the provider failed in-band
    done,        // the data is exactly `[DONE]`
    other,       // anything else, including malformed JSON
  };
  Kind kind = Kind::other;
  // From a `usage` object, in any kind of chunk (some servers put usage on every chunk; the
  // last one seen is the stream's total). Absent when not a non-negative integer.
  std::optional<Tokens> prompt_tokens;
  std::optional<Tokens> completion_tokens;
  // UTF-8 bytes (unescaped) of every choice's delta.content, delta.refusal,
  // delta.reasoning_content, delta.tool_calls[*].function.arguments (chat) and text (completions).
  std::size_t content_bytes = 0;
  // A lower bound of the tokens in those texts for BPE/SentencePiece tokenizers: each non-empty
  // text needs at least one token, and at least one per whitespace-separated word, since no
  // mainstream tokenizer merges across whitespace between words. See token_counter.hpp.
  Tokens min_tokens;
  bool has_content = false;  // some choice carried a non-empty text of those above
  std::optional<std::string> finish_reason;  // the last non-null choices[*].finish_reason
};

// Inspects the data of one SSE event. Never throws; malformed JSON is Kind::other with nothing
// else set. Synchronous; uses a per-thread simdjson parser and padded buffer, so it does not
// allocate in steady state (beyond finish_reason, once per stream).
ChunkInfo inspect_chunk(std::string_view data);

}  // namespace tollgate::stream
