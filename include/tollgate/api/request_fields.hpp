#pragma once
// Parse stage: validates an OpenAI request body and extracts the few fields the gateway needs
// (model, stream, limits, the prompt bound) in one simdjson On-Demand pass, without copying the body.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/core/error.hpp"
#include "tollgate/core/money.hpp"

namespace tollgate::api {

enum class Endpoint { chat_completions, completions, embeddings };

// A byte range in the original request body. A zero-length span is an insertion point.
struct Span {
  std::size_t offset = 0;
  std::size_t length = 0;
  friend bool operator==(const Span&, const Span&) = default;
};

struct RequestFields {
  std::string model;   // unescaped
  Span model_token;    // the raw JSON string token of "model", quotes included
  // Empty span just before the final `}` of the top-level object: where body_patch's
  // insert_member adds a field. The object is never empty (model is required).
  Span object_end;
  // The whole `stream_options` object value when present (not null), so it can be rewritten.
  std::optional<Span> stream_options_token;
  bool stream = false;
  bool include_usage = false;                          // stream_options.include_usage
  std::optional<std::int64_t> max_tokens;              // >= 1 when present
  std::optional<std::int64_t> max_completion_tokens;   // >= 1 when present
  std::optional<std::string> user;                     // end-user id, unescaped
  // Upper bound of the prompt's tokens for any BPE tokenizer (SPEC section 5): never undercounts
  // text. See request_fields.cpp for exactly what is counted.
  Tokens prompt_bound;
  std::size_t messages = 0;  // chat only
};

// Validates `body` completely (JSON syntax, UTF-8, nesting <= 64 levels, no trailing content)
// and the fields the gateway interprets. Every failure is Error::invalid_request with an
// OpenAI-style message; `param` names the offending field when there is one. Duplicate keys
// among the fields the gateway interprets are rejected, because another parser (the provider's)
// might pick the other copy. Spans index into `body`. Synchronous; uses a per-thread parser and
// buffer, so it never allocates in steady state beyond the returned strings.
Result<RequestFields> extract_fields(Endpoint endpoint, std::string_view body);

}  // namespace tollgate::api
