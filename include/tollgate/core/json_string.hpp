#pragma once
// Writing JSON text (shared vocabulary): a quoted, escaped JSON string literal, for every JSON the
// gateway emits or patches (error bodies, /v1/models, rewritten request fields, log lines).
#include <string>
#include <string_view>

namespace tollgate {

// `s` as a JSON string literal with its quotes: escapes `"`, `\` and control characters.
// Bytes that are not valid UTF-8 become U+FFFD, so the result is always valid JSON.
std::string json_string(std::string_view s);

// Appends json_string(s) to `out` (avoids a temporary when building larger documents).
void append_json_string(std::string& out, std::string_view s);

}  // namespace tollgate
