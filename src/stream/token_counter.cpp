#include "tollgate/stream/token_counter.hpp"

#include <algorithm>

namespace tollgate::stream {

void CompletionCounter::add(const ChunkInfo& chunk) {
  if (!chunk.has_content) return;
  min_tokens_ += chunk.min_tokens.value;
  bytes_ += chunk.content_bytes;
}

Tokens CompletionCounter::tokens() const {
  const auto byte_floor =
      static_cast<std::int64_t>((bytes_ + kBytesPerTokenFloor - 1) / kBytesPerTokenFloor);
  return Tokens{std::max(min_tokens_, byte_floor)};
}

}  // namespace tollgate::stream
