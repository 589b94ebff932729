#include "tollgate/stream/chunk_inspector.hpp"

#include <algorithm>
#include <cstdint>

#include <simdjson.h>

#include "tollgate/api/padded_input.hpp"

namespace tollgate::stream {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// Words are maximal runs of non-whitespace bytes.
std::int64_t count_words(std::string_view text) {
  std::int64_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = is_space(c);
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// Counts a generated text when `value` is a string. Other types (null on tool-call and finish
// chunks) are not text and are skipped; only a broken document is an error.
error_code add_text(od::value value, ChunkInfo& info) {
  std::string_view text;
  const error_code error = value.get_string().get(text);
  if (error == simdjson::INCORRECT_TYPE) return simdjson::SUCCESS;
  if (error) return error;
  if (text.empty()) return simdjson::SUCCESS;
  info.content_bytes += text.size();
  info.min_tokens.value += std::max<std::int64_t>(1, count_words(text));
  info.has_content = true;
  return simdjson::SUCCESS;
}

// Iterates an object's members if `value` is one (anything else is skipped), calling
// on_member(key, value) for each; stops at the first error it returns.
template <class F>
error_code for_each_member(od::value value, F&& on_member) {
  od::object object;
  const error_code type_error = value.get_object().get(object);
  if (type_error == simdjson::INCORRECT_TYPE) return simdjson::SUCCESS;
  if (type_error) return type_error;
  for (auto member : object) {
    od::field field;
    if (const error_code e = std::move(member).get(field)) return e;
    std::string_view key;
    if (const error_code e = field.unescaped_key().get(key)) return e;
    if (const error_code e = on_member(key, field.value())) return e;
  }
  return simdjson::SUCCESS;
}

// Same for the elements of an array; `count` receives how many there were.
template <class F>
error_code for_each_element(od::value value, std::size_t& count, F&& on_element) {
  od::array array;
  const error_code type_error = value.get_array().get(array);
  if (type_error == simdjson::INCORRECT_TYPE) return simdjson::SUCCESS;
  if (type_error) return type_error;
  for (auto element : array) {
    od::value item;
    if (const error_code e = std::move(element).get(item)) return e;
    ++count;
    if (const error_code e = on_element(item)) return e;
  }
  return simdjson::SUCCESS;
}

error_code read_tool_calls(od::value tool_calls, ChunkInfo& info) {
  std::size_t count = 0;
  return for_each_element(tool_calls, count, [&](od::value call) {
    return for_each_member(call, [&](std::string_view key, od::value value) {
      if (key != "function") return simdjson::SUCCESS;
      return for_each_member(value, [&](std::string_view fn_key, od::value fn_value) {
        return fn_key == "arguments" ? add_text(fn_value, info) : simdjson::SUCCESS;
      });
    });
  });
}

error_code read_delta(od::value delta, ChunkInfo& info) {
  return for_each_member(delta, [&](std::string_view key, od::value value) {
    // reasoning_content (DeepSeek, vLLM) is billed as completion tokens too.
    if (key == "content" || key == "refusal" || key == "reasoning_content") {
      return add_text(value, info);
    }
    if (key == "tool_calls") return read_tool_calls(value, info);
    return simdjson::SUCCESS;
  });
}

error_code read_choice(od::value choice, ChunkInfo& info) {
  return for_each_member(choice, [&](std::string_view key, od::value value) {
    if (key == "delta") return read_delta(value, info);
    if (key == "text") return add_text(value, info);
    if (key == "finish_reason") {
      std::string_view reason;
      const error_code error = value.get_string().get(reason);
      if (error == simdjson::INCORRECT_TYPE) return simdjson::SUCCESS;  // null until the end
      if (error) return error;
      info.finish_reason.emplace(reason);
    }
    return simdjson::SUCCESS;
  });
}

std::optional<Tokens> read_count(od::value value) {
  std::int64_t count = 0;
  if (value.get_int64().get(count) || count < 0) return std::nullopt;
  return Tokens{count};
}

error_code inspect(std::string_view data, ChunkInfo& info) {
  api::PaddedInput input = api::padded_copy(data);
  od::document doc;
  if (const error_code e = input.iterate().get(doc)) return e;
  od::object root;
  if (const error_code e = doc.get_object().get(root)) return e;
  std::size_t choices = 0;
  bool usage = false;
  bool error = false;
  // Members other than these are skipped unread: On-Demand jumps over them by structure.
  for (auto member : root) {
    od::field field;
    if (const error_code e = std::move(member).get(field)) return e;
    std::string_view key;
    if (const error_code e = field.unescaped_key().get(key)) return e;
    error_code e = simdjson::SUCCESS;
    if (key == "choices") {
      e = for_each_element(field.value(), choices,
                           [&](od::value choice) { return read_choice(choice, info); });
    } else if (key == "usage") {
      od::json_type type;
      if ((e = field.value().type().get(type))) return e;
      usage = type == od::json_type::object;
      e = for_each_member(field.value(), [&](std::string_view name, od::value value) {
        if (name == "prompt_tokens") info.prompt_tokens = read_count(value);
        if (name == "completion_tokens") info.completion_tokens = read_count(value);
        return simdjson::SUCCESS;
      });
    } else if (key == "error") {
      od::json_type type;
      if ((e = field.value().type().get(type))) return e;
      error = type == od::json_type::object;
    }
    if (e) return e;
  }
  // On-Demand stops at the end of the object; anything after it makes the chunk malformed.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) return simdjson::TRAILING_CONTENT;
  if (error) {
    info.kind = ChunkInfo::Kind::error;
  } else if (choices > 0) {
    info.kind = ChunkInfo::Kind::content;
  } else if (usage) {
    info.kind = ChunkInfo::Kind::usage_only;
  } else {
    info.kind = ChunkInfo::Kind::other;
  }
  return simdjson::SUCCESS;
}

}  // namespace

ChunkInfo inspect_chunk(std::string_view data) {
  ChunkInfo info;
  if (data == "[DONE]") {
    info.kind = ChunkInfo::Kind::done;
    return info;
  }
  if (inspect(data, info)) return ChunkInfo{};
  return info;
}

}  // namespace tollgate::stream
