// Reads the fields of a /v1/* body that shape the mock's reply and counts prompt tokens.
#include "mock_request.hpp"

#include <algorithm>
#include <limits>

namespace mock_upstream {
namespace {

namespace dom = simdjson::dom;

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::int64_t>::max();

// FNV-1a, used to make embeddings depend on their input deterministically.
class Fnv1a {
 public:
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ = (hash_ ^ c) * 0x100000001b3ULL;
    }
  }
  void add(std::int64_t value) {
    auto bits = static_cast<std::uint64_t>(value);
    for (int i = 0; i < 8; ++i) {
      hash_ = (hash_ ^ (bits & 0xff)) * 0x100000001b3ULL;
      bits >>= 8;
    }
  }
  std::uint64_t value() const { return hash_; }

 private:
  std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

// Reads typed optional fields; remembers the first problem so the caller can return it as a
// 400. A field that is absent or JSON null counts as not given.
class FieldReader {
 public:
  std::optional<dom::element> find(dom::object object, std::string_view key) const {
    dom::element element;
    if (object.at_key(key).get(element) != simdjson::SUCCESS || element.is_null()) {
      return std::nullopt;
    }
    return element;
  }

  std::optional<std::uint64_t> count(dom::object object, std::string_view key,
                                     std::string_view param, std::uint64_t max) {
    auto element = find(object, key);
    if (!element) return std::nullopt;
    std::int64_t value = 0;
    if (element->get_int64().get(value) != simdjson::SUCCESS || value < 0 ||
        static_cast<std::uint64_t>(value) > max) {
      fail(std::string(param) + " must be an integer in [0, " + std::to_string(max) + "]", param);
      return std::nullopt;
    }
    return static_cast<std::uint64_t>(value);
  }

  std::optional<bool> flag(dom::object object, std::string_view key, std::string_view param) {
    auto element = find(object, key);
    if (!element) return std::nullopt;
    bool value = false;
    if (element->get_bool().get(value) != simdjson::SUCCESS) {
      fail(std::string(param) + " must be a boolean", param);
      return std::nullopt;
    }
    return value;
  }

  void fail(std::string message, std::string_view param, std::string_view code = "invalid_value") {
    if (!error_) error_ = BadRequest{std::move(message), std::string(param), std::string(code)};
  }
  bool failed() const { return error_.has_value(); }
  BadRequest error() const { return *error_; }

 private:
  std::optional<BadRequest> error_;
};

// The request's "mock" object merged over the CLI defaults.
struct MockObject {
  Knobs knobs;
  std::optional<std::uint64_t> completion_tokens;
};

MockObject read_mock(FieldReader& reader, dom::object body, const Defaults& defaults) {
  MockObject result;
  Knobs& knobs = result.knobs;
  knobs.chunk_delay_ms = defaults.chunk_delay_ms;
  knobs.first_byte_delay_ms = defaults.first_byte_delay_ms;
  knobs.no_usage = defaults.no_usage;
  knobs.sse_comments = defaults.sse_comments;
  knobs.timestamps = defaults.timestamps;
  auto element = reader.find(body, "mock");
  if (!element) return result;
  dom::object mock;
  if (element->get_object().get(mock) != simdjson::SUCCESS) {
    reader.fail("mock must be an object", "mock");
    return result;
  }
  result.completion_tokens = reader.count(mock, "completion_tokens", "mock.completion_tokens",
                                   kMaxCompletionTokens);
  if (auto v = reader.count(mock, "chunk_delay_ms", "mock.chunk_delay_ms", kMaxDelayMs)) {
    knobs.chunk_delay_ms = static_cast<std::uint32_t>(*v);
  }
  if (auto v = reader.count(mock, "first_byte_delay_ms", "mock.first_byte_delay_ms", kMaxDelayMs)) {
    knobs.first_byte_delay_ms = static_cast<std::uint32_t>(*v);
  }
  if (auto v = reader.count(mock, "fail_status", "mock.fail_status", 599)) {
    if (*v < 400) {
      reader.fail("mock.fail_status must be in [400, 599]", "mock.fail_status");
    } else {
      knobs.fail_status = static_cast<unsigned>(*v);
    }
  }
  knobs.reset_after = reader.count(mock, "reset_after", "mock.reset_after", kNoLimit);
  if (auto v = reader.flag(mock, "no_usage", "mock.no_usage")) knobs.no_usage = *v;
  if (auto v = reader.flag(mock, "sse_comments", "mock.sse_comments")) knobs.sse_comments = *v;
  if (auto v = reader.flag(mock, "timestamps", "mock.timestamps")) knobs.timestamps = *v;
  if (auto v = reader.flag(mock, "one_write", "mock.one_write")) knobs.one_write = *v;
  if (knobs.one_write && (knobs.chunk_delay_ms > 0 || knobs.reset_after)) {
    reader.fail("mock.one_write cannot be combined with chunk_delay_ms or reset_after", "mock.one_write");
  }
  return result;
}

// B (content bytes) and M (message count) of a chat body.
std::uint64_t chat_prompt_tokens(FieldReader& reader, dom::object body) {
  auto element = reader.find(body, "messages");
  dom::array messages;
  if (!element || element->get_array().get(messages) != simdjson::SUCCESS) {
    reader.fail("messages must be an array", "messages");
    return 0;
  }
  std::uint64_t bytes = 0;
  std::uint64_t count = 0;
  for (dom::element item : messages) {
    dom::object message;
    if (item.get_object().get(message) != simdjson::SUCCESS) {
      reader.fail("messages[" + std::to_string(count) + "] must be an object", "messages");
      return 0;
    }
    ++count;
    auto content = reader.find(message, "content");
    if (!content) continue;
    std::string_view text;
    dom::array parts;
    if (content->get_string().get(text) == simdjson::SUCCESS) {
      bytes += text.size();
    } else if (content->get_array().get(parts) == simdjson::SUCCESS) {
      for (dom::element part : parts) {
        dom::object part_object;
        std::string_view part_text;
        if (part.get_object().get(part_object) == simdjson::SUCCESS &&
            part_object.at_key("text").get_string().get(part_text) == simdjson::SUCCESS) {
          bytes += part_text.size();
        }
      }
    }
  }
  return text_tokens(bytes) + 3 * count;
}

// A prompt is a string, an array of strings, an array of token ids or an array of those.
std::uint64_t completions_prompt_tokens(FieldReader& reader, dom::object body) {
  auto element = reader.find(body, "prompt");
  if (!element) {
    reader.fail("prompt is required", "prompt");
    return 0;
  }
  std::string_view text;
  if (element->get_string().get(text) == simdjson::SUCCESS) return text_tokens(text.size());
  dom::array items;
  if (element->get_array().get(items) != simdjson::SUCCESS) {
    reader.fail("prompt must be a string or an array", "prompt");
    return 0;
  }
  std::uint64_t bytes = 0;
  std::uint64_t token_ids = 0;
  for (dom::element item : items) {
    dom::array ids;
    if (item.get_string().get(text) == simdjson::SUCCESS) {
      bytes += text.size();
    } else if (item.is_int64()) {
      ++token_ids;
    } else if (item.get_array().get(ids) == simdjson::SUCCESS) {
      token_ids += ids.size();
    } else {
      reader.fail("prompt items must be strings or token arrays", "prompt");
      return 0;
    }
  }
  return text_tokens(bytes) + token_ids;
}

// Embeddings input: a string, strings, one token array, or token arrays. Each input gets a
// seed; tokens are ceil(bytes / 4) per string input and one per token id.
struct EmbeddingInputs {
  std::uint64_t tokens = 0;
  std::vector<std::uint64_t> seeds;
};

EmbeddingInputs embeddings_inputs(FieldReader& reader, dom::object body) {
  EmbeddingInputs result;
  auto element = reader.find(body, "input");
  if (!element) {
    reader.fail("input is required", "input");
    return result;
  }
  std::string_view text;
  if (element->get_string().get(text) == simdjson::SUCCESS) {
    Fnv1a hash;
    hash.add(text);
    result.seeds.push_back(hash.value());
    result.tokens = text_tokens(text.size());
    return result;
  }
  dom::array items;
  if (element->get_array().get(items) != simdjson::SUCCESS || items.size() == 0) {
    reader.fail("input must be a string or a non-empty array", "input");
    return result;
  }
  const auto first_type = (*items.begin()).type();
  if (first_type == dom::element_type::INT64 || first_type == dom::element_type::UINT64) {
    Fnv1a hash;
    for (dom::element item : items) {
      std::int64_t id = 0;
      if (item.get_int64().get(id) != simdjson::SUCCESS) {
        reader.fail("input token arrays must hold only integers", "input");
        return result;
      }
      hash.add(id);
      ++result.tokens;
    }
    result.seeds.push_back(hash.value());
    return result;
  }
  for (dom::element item : items) {
    Fnv1a hash;
    dom::array ids;
    if (first_type == dom::element_type::STRING && item.get_string().get(text) == simdjson::SUCCESS) {
      hash.add(text);
      result.tokens += text_tokens(text.size());
    } else if (first_type == dom::element_type::ARRAY &&
               item.get_array().get(ids) == simdjson::SUCCESS) {
      for (dom::element id_element : ids) {
        std::int64_t id = 0;
        if (id_element.get_int64().get(id) != simdjson::SUCCESS) {
          reader.fail("input token arrays must hold only integers", "input");
          return result;
        }
        hash.add(id);
        ++result.tokens;
      }
    } else {
      reader.fail("input array items must all be strings or all be token arrays", "input");
      return result;
    }
    result.seeds.push_back(hash.value());
  }
  return result;
}

}  // namespace

ParseResult parse_request(dom::parser& parser, Endpoint endpoint, std::string_view body,
                          const Defaults& defaults) {
  dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return BadRequest{"request body is not valid JSON", "", "invalid_json"};
  }
  dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) {
    return BadRequest{"request body must be a JSON object", "", "invalid_json"};
  }

  FieldReader reader;
  Plan plan;
  plan.endpoint = endpoint;
  std::string_view model;
  auto model_element = reader.find(object, "model");
  if (!model_element || model_element->get_string().get(model) != simdjson::SUCCESS) {
    return BadRequest{"model must be a string", "model", "invalid_value"};
  }
  plan.model = std::string(model);

  const MockObject mock = read_mock(reader, object, defaults);
  plan.knobs = mock.knobs;

  std::uint64_t prompt_tokens = 0;
  switch (endpoint) {
    case Endpoint::chat:
      prompt_tokens = chat_prompt_tokens(reader, object);
      break;
    case Endpoint::completions:
      prompt_tokens = completions_prompt_tokens(reader, object);
      break;
    case Endpoint::embeddings: {
      EmbeddingInputs inputs = embeddings_inputs(reader, object);
      prompt_tokens = inputs.tokens;
      plan.embedding_seeds = std::move(inputs.seeds);
      break;
    }
  }
  plan.prompt_tokens = std::max<std::uint64_t>(prompt_tokens, 1);

  if (endpoint != Endpoint::embeddings) {
    plan.stream = reader.flag(object, "stream", "stream").value_or(false);
    if (auto options = reader.find(object, "stream_options")) {
      dom::object stream_options;
      if (options->get_object().get(stream_options) != simdjson::SUCCESS) {
        reader.fail("stream_options must be an object", "stream_options");
      } else {
        plan.include_usage =
            reader.flag(stream_options, "include_usage", "stream_options.include_usage")
                .value_or(false);
      }
    }
    // The newer name wins when a client sends both.
    auto max_tokens = reader.count(object, "max_completion_tokens", "max_completion_tokens", kNoLimit);
    if (!max_tokens) max_tokens = reader.count(object, "max_tokens", "max_tokens", kNoLimit);
    if (mock.completion_tokens) {
      plan.completion_tokens = static_cast<std::uint32_t>(*mock.completion_tokens);
    } else if (max_tokens && *max_tokens <= defaults.completion_tokens) {
      plan.completion_tokens = static_cast<std::uint32_t>(*max_tokens);
      plan.finish_length = true;
    } else {
      plan.completion_tokens = defaults.completion_tokens;
    }
  }
  if (reader.failed()) return reader.error();
  return plan;
}

}  // namespace mock_upstream
