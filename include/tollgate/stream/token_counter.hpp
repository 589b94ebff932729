#pragma once
// Count stage: completion tokens of a stream whose provider reported no usage
// (`token_source: counted`), estimated from the chunks' content as they pass.
#include <cstddef>
#include <cstdint>

#include "tollgate/core/money.hpp"
#include "tollgate/stream/chunk_inspector.hpp"

namespace tollgate::stream {

// Method: the sum of each content chunk's ChunkInfo::min_tokens (max(1, words) per non-empty
// text), floored by ceil(content bytes / kBytesPerTokenFloor) over the whole stream.
//
// Why: OpenAI-compatible servers stream one decoded token per chunk, so "one per non-empty chunk"
// is exact for them; no mainstream tokenizer merges two whitespace-separated words into one
// token, so a chunk with w words holds at least w tokens, which keeps batched streams (several
// tokens per chunk) from collapsing to one token per chunk: for English, words are about 3/4 of
// tokens. Both terms are lower bounds, so the count never exceeds the real one on such servers.
// The byte floor catches batched text without spaces (CJK, long identifiers); it uses 10 bytes
// per token because tokens longer than that are rare in every mainstream vocabulary, so it does
// not overcount streams of long single-token chunks. A byte floor of 4 bytes per token would
// overcount one-token-per-chunk streams whenever tokens average over 4 bytes (the mock's
// `tok12 ` tokens are 6 bytes; English averages about 4.5).
//
// Error: exact on one-token-per-chunk streams, the mock's included (its tokens `tok<i> ` are at
// most 10 bytes for i < 10^6, one word each); on batched English about 25% under, never over.
class CompletionCounter {
 public:
  static constexpr std::uint64_t kBytesPerTokenFloor = 10;

  void add(const ChunkInfo& chunk);
  Tokens tokens() const;
  std::uint64_t content_bytes() const { return bytes_; }

 private:
  std::int64_t min_tokens_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace tollgate::stream
