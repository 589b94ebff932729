#include "tollgate/api/usage_fields.hpp"

#include <cstdint>

#include <simdjson.h>

#include "tollgate/api/padded_input.hpp"

namespace tollgate::api {
namespace {

namespace od = simdjson::ondemand;

std::optional<std::int64_t> read_count(od::value value) {
  std::int64_t count = 0;
  if (value.get_int64().get(count) || count < 0) return std::nullopt;
  return count;
}

}  // namespace

std::optional<ProviderUsage> extract_usage(std::string_view response_body) {
  PaddedInput input = padded_copy(response_body);
  od::document doc;
  if (input.iterate().get(doc)) return std::nullopt;
  od::object root;
  if (doc.get_object().get(root)) return std::nullopt;
  // Values other than `usage` are skipped unread: On-Demand jumps over them by structure,
  // which is what keeps this cheap on a long completion or a large embeddings response.
  for (auto member : root) {
    od::field field;
    if (std::move(member).get(field)) return std::nullopt;
    std::string_view key;
    if (field.unescaped_key().get(key)) return std::nullopt;
    if (key != "usage") continue;
    od::object usage;
    if (field.value().get_object().get(usage)) return std::nullopt;  // null or not an object
    std::optional<std::int64_t> prompt;
    std::optional<std::int64_t> completion;
    for (auto usage_member : usage) {
      od::field count;
      if (std::move(usage_member).get(count)) return std::nullopt;
      if (count.unescaped_key().get(key)) return std::nullopt;
      if (key == "prompt_tokens") {
        prompt = read_count(count.value());
        if (!prompt) return std::nullopt;
      } else if (key == "completion_tokens") {
        // null is what some providers send for embeddings: no completion tokens.
        od::json_type type;
        if (count.value().type().get(type)) return std::nullopt;
        if (type == od::json_type::null) continue;
        completion = read_count(count.value());
        if (!completion) return std::nullopt;
      }
    }
    if (!prompt) return std::nullopt;
    return ProviderUsage{Tokens{*prompt}, Tokens{completion.value_or(0)}};
  }
  return std::nullopt;
}

}  // namespace tollgate::api
