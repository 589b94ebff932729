#include "tollgate/api/request_fields.hpp"

#include <charconv>
#include <utility>

#include <simdjson.h>

#include "tollgate/api/padded_input.hpp"

// Why every value is walked: simdjson On-Demand only validates what it is asked to read and
// skips the rest by counting brackets. A body we forward must be valid JSON as a whole, or the
// provider (another parser) may read it differently from us (request smuggling), and a client
// deserves our 400 rather than a provider's. So the scanner visits every key and value once:
// objects and arrays are iterated, strings unescaped (which checks escapes), and numbers and
// literals checked against the JSON grammar on their raw token. Stage 1 of simdjson has already
// checked UTF-8 and unescaped control characters over the whole buffer. Nesting is capped at
// kMaxDepth so the recursion's stack use is bounded whatever the input.

namespace tollgate::api {
namespace {

namespace od = simdjson::ondemand;
using simdjson::error_code;

constexpr int kMaxDepth = 64;

// Prompt bound constants (SPEC section 5). A BPE token is at least one byte, so the unescaped
// UTF-8 byte count of the text bounds its tokens; the chat template adds a few tokens per
// message (role and separators, 3 to 4 in OpenAI's accounting) and 3 to prime the reply.
constexpr std::int64_t kTokensPerMessage = 4;
constexpr std::int64_t kTokensPerChat = 3;
constexpr std::int64_t kTokensPerCompletion = 1;  // the end-of-text token a prompt may carry
// Known limitation until an exact tokenizer exists: images, audio and files are not bounded
// by their URL or data size (a base64 data URL would inflate the bound a thousandfold, and a
// remote URL says nothing of the image). Each such part counts as this fixed allowance, the
// price of a low-detail image on OpenAI; a larger image undercounts here and is charged at its
// actual size when the request settles.
constexpr std::int64_t kTokensPerMediaPart = 85;

bool is_json_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// raw_json_token() runs up to the next token, trailing whitespace included.
std::string_view trim_right(std::string_view s) {
  while (!s.empty() && is_json_whitespace(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 8259 number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view s) {
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// A valid JSON number written without fraction or exponent.
bool is_integer_token(std::string_view s) {
  return s.find_first_of(".eE") == std::string_view::npos;
}

// The raw token of a number value, or an empty view when it is not a JSON number.
std::string_view number_token(od::value& v) {
  const std::string_view token = trim_right(v.raw_json_token());
  return is_json_number(token) ? token : std::string_view();
}

// A null value, checked on its raw token (the literal must be exactly `null`).
error_code check_null(od::value& v) {
  return trim_right(v.raw_json_token()) == "null" ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
}

Failure parse_failure(error_code e) {
  std::string_view why = "it is not valid JSON";
  switch (e) {
    case simdjson::UTF8_ERROR: why = "it is not valid UTF-8"; break;
    case simdjson::EMPTY: why = "it is empty"; break;
    case simdjson::UNESCAPED_CHARS: why = "a string contains an unescaped control character"; break;
    case simdjson::UNCLOSED_STRING: why = "a string is not closed"; break;
    case simdjson::DEPTH_ERROR: why = "it is nested more than 64 levels deep"; break;
    case simdjson::TRAILING_CONTENT: why = "there is content after the JSON object"; break;
    case simdjson::CAPACITY:
    case simdjson::MEMALLOC: why = "it is too large"; break;
    default: break;
  }
  std::string message = "We could not parse the JSON body of your request: ";
  message += why;
  message += '.';
  return fail(Error::invalid_request, std::move(message));
}

// OpenAI's wording for a value of the wrong type: "..., but got an integer instead."
std::string_view type_phrase(od::value& v) {
  od::json_type type;
  if (v.type().get(type)) return "invalid JSON";
  switch (type) {
    case od::json_type::object: return "an object";
    case od::json_type::array: return "an array";
    case od::json_type::string: return "a string";
    case od::json_type::boolean: return "a boolean";
    case od::json_type::null: return "null";
    case od::json_type::number:
      return is_integer_token(trim_right(v.raw_json_token())) ? "an integer" : "a decimal number";
  }
  return "an unknown value";
}

Failure type_failure(std::string_view param, std::string_view expected, od::value& v) {
  std::string message = "Invalid type for '";
  message += param;
  message += "': expected ";
  message += expected;
  message += ", but got ";
  message += type_phrase(v);
  message += " instead.";
  return fail(Error::invalid_request, std::move(message), std::string(param));
}

Failure duplicate_failure(std::string_view param) {
  std::string message = "Duplicate '";
  message += param;
  message += "' field in the request body.";
  return fail(Error::invalid_request, std::move(message), std::string(param));
}

Failure missing_failure(std::string_view param) {
  std::string message = "Missing required parameter: '";
  message += param;
  message += "'.";
  return fail(Error::invalid_request, std::move(message), std::string(param));
}

// What a walk adds to the prompt bound.
enum class Count {
  nothing,       // validate only
  message_text,  // scalar values (strings unescaped); media parts as a fixed allowance
  schema_text,   // scalar values and keys: tool schemas are rendered into the prompt, names too
};

// Members of a content part that carry media rather than text (see kTokensPerMediaPart).
bool is_media_member(std::string_view key) {
  return key == "image_url" || key == "input_audio" || key == "file";
}

// One pass over a request body. Field errors are recorded, not returned at once: the rest of
// the body is still walked so that malformed JSON anywhere wins over a field error (a client
// sees "could not parse" for a broken body, whatever its first field says).
class RequestScanner {
 public:
  RequestScanner(Endpoint endpoint, std::string_view text) : endpoint_(endpoint), text_(text) {}

  error_code scan(od::object& root) {
    for (auto member : root) {
      od::field field;
      if (auto e = std::move(member).get(field)) return e;
      std::string_view key;
      // Keys are compared unescaped: "mod\u0065l" is "model" to the provider too.
      if (auto e = field.unescaped_key().get(key)) return e;
      if (auto e = on_member(key, field.value())) return e;
    }
    return simdjson::SUCCESS;
  }

  Result<RequestFields> finish() {
    if (error_) return std::move(*error_);
    if (!seen_model_) return fail(Error::invalid_request, "you must provide a model parameter", "model");
    switch (endpoint_) {
      case Endpoint::chat_completions:
        if (!seen_primary_) return missing_failure("messages");
        fields_.prompt_bound = Tokens{text_bytes_ + media_parts_ * kTokensPerMediaPart +
                                      static_cast<std::int64_t>(fields_.messages) * kTokensPerMessage +
                                      kTokensPerChat};
        break;
      case Endpoint::completions:
        if (!seen_primary_) return missing_failure("prompt");
        fields_.prompt_bound = Tokens{text_bytes_ + token_ids_ + kTokensPerCompletion};
        break;
      case Endpoint::embeddings:
        if (!seen_primary_) return missing_failure("input");
        fields_.prompt_bound = Tokens{text_bytes_ + token_ids_};
        break;
    }
    // The body is a validated object with nothing after it: its last non-space byte is `}`.
    std::string_view body = trim_right(text_);
    if (body.empty() || body.back() != '}') return parse_failure(simdjson::TAPE_ERROR);
    fields_.object_end = Span{body.size() - 1, 0};
    return std::move(fields_);
  }

 private:
  void note(Failure failure) {
    if (!error_) error_ = std::move(failure);
  }

  Span span_of(std::string_view token) const {
    return Span{static_cast<std::size_t>(token.data() - text_.data()), token.size()};
  }

  // Byte length of the JSON value starting at `start`, which has been validated already.
  std::size_t value_length(std::size_t start) const {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = start; i < text_.size(); ++i) {
      const char c = text_[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1 - start;
      }
    }
    return text_.size() - start;
  }

  error_code on_member(std::string_view key, od::value value) {
    constexpr int kDepth = 2;  // the root object is depth 1
    if (key == "model") return on_model(value);
    if (key == "stream") return on_stream(value);
    if (key == "stream_options") return on_stream_options(value);
    if (key == "max_tokens") return on_positive_int(value, "max_tokens", seen_max_tokens_, fields_.max_tokens);
    if (key == "max_completion_tokens") {
      return on_positive_int(value, "max_completion_tokens", seen_max_completion_tokens_,
                             fields_.max_completion_tokens);
    }
    if (key == "user") return on_user(value);
    switch (endpoint_) {
      case Endpoint::chat_completions:
        if (key == "messages") return on_messages(value);
        // Tool and schema definitions are rendered into the prompt by the provider.
        if (key == "tools" || key == "functions" || key == "response_format" ||
            key == "tool_choice" || key == "function_call") {
          return walk(value, kDepth, Count::schema_text);
        }
        break;
      case Endpoint::completions:
        if (key == "prompt") return on_prompt(value, "prompt");
        if (key == "suffix") return walk(value, kDepth, Count::message_text);  // inserted text
        break;
      case Endpoint::embeddings:
        if (key == "input") return on_prompt(value, "input");
        break;
    }
    return walk(value, kDepth, Count::nothing);
  }

  // Records a duplicate of an interpreted field; true when `seen` was already set.
  bool duplicate(bool& seen, std::string_view param) {
    if (seen) {
      note(duplicate_failure(param));
      return true;
    }
    seen = true;
    return false;
  }

  error_code on_model(od::value v) {
    if (duplicate(seen_model_, "model")) return walk(v, 2, Count::nothing);
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type != od::json_type::string) {
      if (type == od::json_type::null) {
        note(fail(Error::invalid_request, "you must provide a model parameter", "model"));
      } else {
        note(type_failure("model", "a string", v));
      }
      return walk(v, 2, Count::nothing);
    }
    const std::string_view token = trim_right(v.raw_json_token());
    std::string_view model;
    if (auto e = v.get_string().get(model)) return e;
    if (model.empty()) note(fail(Error::invalid_request, "you must provide a model parameter", "model"));
    fields_.model.assign(model);
    fields_.model_token = span_of(token);
    return simdjson::SUCCESS;
  }

  // Reads a boolean (null = absent) at nesting `depth` into `out`; a wrong type is noted
  // under `param`.
  error_code read_bool(od::value v, int depth, std::string_view param, bool& out) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::boolean) return v.get_bool().get(out);
    if (type == od::json_type::null) {
      out = false;
      return check_null(v);
    }
    note(type_failure(param, "a boolean", v));
    return walk(v, depth, Count::nothing);
  }

  error_code on_stream(od::value v) {
    if (duplicate(seen_stream_, "stream")) return walk(v, 2, Count::nothing);
    return read_bool(v, 2, "stream", fields_.stream);
  }

  error_code on_stream_options(od::value v) {
    if (duplicate(seen_stream_options_, "stream_options")) return walk(v, 2, Count::nothing);
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::null) return check_null(v);
    if (type != od::json_type::object) {
      note(type_failure("stream_options", "an object", v));
      return walk(v, 2, Count::nothing);
    }
    const std::size_t start = span_of(v.raw_json_token()).offset;
    od::object object;
    if (auto e = v.get_object().get(object)) return e;
    bool seen_include_usage = false;
    for (auto member : object) {
      od::field field;
      if (auto e = std::move(member).get(field)) return e;
      std::string_view key;
      if (auto e = field.unescaped_key().get(key)) return e;
      if (key == "include_usage") {
        if (duplicate(seen_include_usage, "stream_options.include_usage")) {
          if (auto e = walk(field.value(), 3, Count::nothing)) return e;
        } else if (auto e = read_bool(field.value(), 3, "stream_options.include_usage",
                                      fields_.include_usage)) {
          return e;
        }
      } else if (auto e = walk(field.value(), 3, Count::nothing)) {
        return e;
      }
    }
    fields_.stream_options_token = Span{start, value_length(start)};
    return simdjson::SUCCESS;
  }

  error_code on_positive_int(od::value v, std::string_view param, bool& seen,
                             std::optional<std::int64_t>& out) {
    if (duplicate(seen, param)) return walk(v, 2, Count::nothing);
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::null) return check_null(v);
    if (type != od::json_type::number) {
      note(type_failure(param, "an integer", v));
      return walk(v, 2, Count::nothing);
    }
    const std::string_view token = number_token(v);
    if (token.empty()) return simdjson::NUMBER_ERROR;
    if (!is_integer_token(token)) {
      note(type_failure(param, "an integer", v));
      return simdjson::SUCCESS;
    }
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec == std::errc::result_out_of_range && token.front() != '-') {
      note(fail(Error::invalid_request,
                "Invalid '" + std::string(param) + "': integer above maximum value.",
                std::string(param)));
    } else if (ec != std::errc() || value < 1) {
      note(fail(Error::invalid_request,
                "Invalid '" + std::string(param) +
                    "': integer below minimum value. Expected a value >= 1.",
                std::string(param)));
    } else {
      out = value;
    }
    return simdjson::SUCCESS;
  }

  error_code on_user(od::value v) {
    if (duplicate(seen_user_, "user")) return walk(v, 2, Count::nothing);
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::null) return check_null(v);
    if (type != od::json_type::string) {
      note(type_failure("user", "a string", v));
      return walk(v, 2, Count::nothing);
    }
    std::string_view user;
    if (auto e = v.get_string().get(user)) return e;
    fields_.user.emplace(user);
    return simdjson::SUCCESS;
  }

  error_code on_messages(od::value v) {
    if (duplicate(seen_primary_, "messages")) return walk(v, 2, Count::nothing);
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type != od::json_type::array) {
      note(type_failure("messages", "an array", v));
      return walk(v, 2, Count::nothing);
    }
    od::array array;
    if (auto e = v.get_array().get(array)) return e;
    std::size_t count = 0;
    for (auto element : array) {
      od::value message;
      if (auto e = std::move(element).get(message)) return e;
      if (auto e = message.type().get(type)) return e;
      if (type != od::json_type::object) {
        Failure failure =
            type_failure("messages[" + std::to_string(count) + "]", "an object", message);
        failure.param = "messages";
        note(std::move(failure));
        if (auto e = walk(message, 3, Count::nothing)) return e;
      } else if (auto e = walk(message, 3, Count::message_text)) {
        return e;
      }
      ++count;
    }
    if (count == 0) {
      note(fail(Error::invalid_request,
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
                "an empty array instead.",
                "messages"));
    }
    fields_.messages = count;
    return simdjson::SUCCESS;
  }

  // prompt (completions) and input (embeddings): a string, or an array whose elements are
  // strings, integer token ids or arrays of token ids. Mixed arrays are let through: the
  // provider judges them, and the bound covers them all the same.
  error_code on_prompt(od::value v, std::string_view param) {
    if (duplicate(seen_primary_, param)) return walk(v, 2, Count::nothing);
    static constexpr std::string_view kExpected =
        "a string, an array of strings, an array of integers or an array of arrays of integers";
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    if (type == od::json_type::string) return walk(v, 2, Count::message_text);
    if (type != od::json_type::array) {
      note(type_failure(param, kExpected, v));
      return walk(v, 2, Count::nothing);
    }
    od::array array;
    if (auto e = v.get_array().get(array)) return e;
    for (auto element_result : array) {
      od::value element;
      if (auto e = std::move(element_result).get(element)) return e;
      if (auto e = element.type().get(type)) return e;
      if (type == od::json_type::string) {
        if (auto e = walk(element, 3, Count::message_text)) return e;
      } else if (type == od::json_type::number) {
        if (auto e = on_token_id(element, param, kExpected)) return e;
      } else if (type == od::json_type::array) {
        od::array ids;
        if (auto e = element.get_array().get(ids)) return e;
        for (auto id_result : ids) {
          od::value id;
          if (auto e = std::move(id_result).get(id)) return e;
          if (auto e = id.type().get(type)) return e;
          if (type == od::json_type::number) {
            if (auto e = on_token_id(id, param, kExpected)) return e;
          } else {
            note(type_failure(param, kExpected, id));
            if (auto e = walk(id, 4, Count::nothing)) return e;
          }
        }
      } else {
        note(type_failure(param, kExpected, element));
        if (auto e = walk(element, 3, Count::nothing)) return e;
      }
    }
    return simdjson::SUCCESS;
  }

  // One token id: exactly one token of the prompt.
  error_code on_token_id(od::value& v, std::string_view param, std::string_view expected) {
    const std::string_view token = number_token(v);
    if (token.empty()) return simdjson::NUMBER_ERROR;
    if (!is_integer_token(token)) note(type_failure(param, expected, v));
    ++token_ids_;
    return simdjson::SUCCESS;
  }

  // Validates `v` (at nesting `depth`) and everything inside it, adding to the prompt bound as
  // `count` says.
  error_code walk(od::value v, int depth, Count count) {
    if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    switch (type) {
      case od::json_type::object: {
        od::object object;
        if (auto e = v.get_object().get(object)) return e;
        for (auto member : object) {
          od::field field;
          if (auto e = std::move(member).get(field)) return e;
          std::string_view key;
          if (auto e = field.unescaped_key().get(key)) return e;
          Count inner = count;
          if (count == Count::schema_text) {
            text_bytes_ += static_cast<std::int64_t>(key.size());
          } else if (count == Count::message_text && is_media_member(key)) {
            ++media_parts_;
            inner = Count::nothing;
          }
          if (auto e = walk(field.value(), depth + 1, inner)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::array: {
        od::array array;
        if (auto e = v.get_array().get(array)) return e;
        for (auto element : array) {
          od::value value;
          if (auto e = std::move(element).get(value)) return e;
          if (auto e = walk(value, depth + 1, count)) return e;
        }
        return simdjson::SUCCESS;
      }
      case od::json_type::string: {
        std::string_view s;
        if (auto e = v.get_string().get(s)) return e;
        if (count != Count::nothing) text_bytes_ += static_cast<std::int64_t>(s.size());
        return simdjson::SUCCESS;
      }
      case od::json_type::number: {
        const std::string_view token = number_token(v);
        if (token.empty()) return simdjson::NUMBER_ERROR;
        if (count != Count::nothing) text_bytes_ += static_cast<std::int64_t>(token.size());
        return simdjson::SUCCESS;
      }
      case od::json_type::boolean: {
        const std::string_view token = trim_right(v.raw_json_token());
        if (token != "true" && token != "false") return simdjson::T_ATOM_ERROR;
        if (count != Count::nothing) text_bytes_ += static_cast<std::int64_t>(token.size());
        return simdjson::SUCCESS;
      }
      case od::json_type::null:
        return check_null(v);
    }
    return simdjson::TAPE_ERROR;
  }

  Endpoint endpoint_;
  std::string_view text_;
  RequestFields fields_;
  std::optional<Failure> error_;
  bool seen_model_ = false;
  bool seen_stream_ = false;
  bool seen_stream_options_ = false;
  bool seen_max_tokens_ = false;
  bool seen_max_completion_tokens_ = false;
  bool seen_user_ = false;
  bool seen_primary_ = false;  // messages, prompt or input
  std::int64_t text_bytes_ = 0;
  std::int64_t media_parts_ = 0;
  std::int64_t token_ids_ = 0;
};

}  // namespace

Result<RequestFields> extract_fields(Endpoint endpoint, std::string_view body) {
  PaddedInput input = padded_copy(body);
  od::document doc;
  if (auto e = input.iterate().get(doc)) return parse_failure(e);
  od::json_type type;
  if (auto e = doc.type().get(type)) return parse_failure(e);
  if (type != od::json_type::object) {
    return fail(Error::invalid_request, "The request body must be a JSON object.");
  }
  od::object root;
  if (auto e = doc.get_object().get(root)) return parse_failure(e);
  RequestScanner scanner(endpoint, input.text);
  if (auto e = scanner.scan(root)) return parse_failure(e);
  // On-Demand stops at the end of the object; anything after it is ours to reject.
  if (doc.current_location().error() != simdjson::OUT_OF_BOUNDS) {
    return parse_failure(simdjson::TRAILING_CONTENT);
  }
  return scanner.finish();
}

}  // namespace tollgate::api
