#pragma once
// Forward stage: rewrites a few bytes of the original request body (downgraded model, the
// completion allowance, stream_options) and forwards everything else untouched.
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/core/json_string.hpp"
#include "tollgate/api/request_fields.hpp"

namespace tollgate::api {

// Replace the bytes of `span` with `text`; a zero-length span inserts `text` at its offset.
struct Edit {
  Span span;
  std::string text;
};

// `body` with `span` replaced by `replacement` (raw bytes: pass json_string(...) for a string).
// Precondition: the span lies inside `body`; a violation is a bug and throws std::out_of_range.
std::string replace_span(std::string_view body, Span span, std::string_view replacement);

// `body` with every edit applied; edits may be given in any order. Insertions at the same offset
// keep their relative order and come before a replacement starting there. Precondition: spans
// lie inside `body` and do not overlap; a violation is a bug and throws std::out_of_range.
std::string apply_edits(std::string_view body, std::vector<Edit> edits);

// The edit that appends the member `"key": raw_json_value` to the top-level object, given
// RequestFields::object_end. `raw_json_value` must already be valid JSON (e.g. "1024", "true",
// json_string(...)). Relies on the object having at least one member, which extract_fields
// guarantees (model is required).
Edit insert_member(Span object_end, std::string_view key, std::string_view raw_json_value);

}  // namespace tollgate::api
