#pragma once
// Parse stage infrastructure (api and stream): the per-thread simdjson parser and the padded copy
// of the bytes it reads, shared so one worker keeps one parser and one buffer.
#include <cstddef>
#include <string_view>

#include <simdjson.h>

namespace tollgate::api {

// simdjson reads up to SIMDJSON_PADDING bytes past the end of its input, so the input is copied
// into a per-thread buffer with that much readable (zeroed) space after it. The buffer and the
// parser only grow (up to a retained size, see padded_input.cpp): after warm-up a parse costs
// one memcpy and no allocation. Offsets into `text` equal offsets into the original bytes.
//
// The returned view (and any document iterated from it) stays valid until the next call on the
// same thread. Callers are synchronous functions that never suspend, so two parses never overlap.
struct PaddedInput {
  simdjson::ondemand::parser& parser;
  std::string_view text;  // the copy, inside a buffer of `capacity` bytes
  std::size_t capacity;

  simdjson::simdjson_result<simdjson::ondemand::document> iterate() {
    return parser.iterate(text.data(), text.size(), capacity);
  }
};

PaddedInput padded_copy(std::string_view bytes);

}  // namespace tollgate::api
