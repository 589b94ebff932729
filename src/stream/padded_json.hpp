#pragma once
// Private to stream: the per-thread simdjson parser and the padded copy of the chunk it reads.
// (The same idea as api's padded_input; a separate copy keeps stream independent of api.)
#include <cstddef>
#include <string_view>

#include <simdjson.h>

namespace tollgate::stream::detail {

// simdjson reads up to SIMDJSON_PADDING bytes past the end of its input, so the input is copied
// into a per-thread buffer with that much zeroed space after it. Buffer and parser only grow (up
// to a retained size): after warm-up an inspection costs one memcpy and no allocation.
// The view and any document iterated from it stay valid until the next call on the same thread;
// callers are synchronous and never suspend, so two parses never overlap.
struct PaddedJson {
  simdjson::ondemand::parser& parser;
  std::string_view text;
  std::size_t capacity;

  simdjson::simdjson_result<simdjson::ondemand::document> iterate() {
    return parser.iterate(text.data(), text.size(), capacity);
  }
};

PaddedJson padded_copy(std::string_view bytes);

}  // namespace tollgate::stream::detail
