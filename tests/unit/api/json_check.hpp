#pragma once
// Test helper: an independent full JSON validation (simdjson's DOM parser) for emitted JSON.
#include <string>
#include <string_view>

#include <simdjson.h>

namespace tollgate::api::test {

inline bool is_valid_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(simdjson::padded_string(text)).get(root) == simdjson::SUCCESS;
}

// The string at a JSON pointer ("/error/message"); "<missing>" when absent or not a string.
inline std::string string_at(std::string_view text, std::string_view pointer) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(simdjson::padded_string(text)).get(root)) return "<invalid>";
  std::string_view value;
  if (root.at_pointer(pointer).get(value)) return "<missing>";
  return std::string(value);
}

}  // namespace tollgate::api::test
