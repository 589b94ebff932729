#pragma once
// Relay/count stage: reads the token usage a provider reports in a non-streaming JSON response
// (or in one streamed chunk's JSON), so settle can charge actual tokens.
#include <optional>
#include <string_view>

#include "tollgate/core/money.hpp"

namespace tollgate::api {

struct ProviderUsage {
  Tokens prompt;
  Tokens completion;  // 0 when the provider reports none (embeddings)
};

// `usage.prompt_tokens` and `usage.completion_tokens` of a top-level JSON object. nullopt when
// `usage` is absent or null, prompt_tokens is missing, a count is not a non-negative integer, or
// the JSON around them is malformed. Other fields are skipped without being validated (the body
// is the provider's, relayed as is). Synchronous; shares the per-thread parser with
// extract_fields.
std::optional<ProviderUsage> extract_usage(std::string_view response_body);

}  // namespace tollgate::api
