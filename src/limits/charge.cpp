#include "tollgate/limits/charge.hpp"

#include <algorithm>
#include <string>

namespace tollgate::limits {

namespace {

// The client's own completion limit and the field it came in, if any.
struct ClientLimit {
  std::int64_t tokens;
  const char* param;
};

std::optional<ClientLimit> client_limit(const api::RequestFields& fields) {
  std::optional<ClientLimit> out;
  if (fields.max_tokens) out = ClientLimit{*fields.max_tokens, "max_tokens"};
  if (fields.max_completion_tokens && (!out || *fields.max_completion_tokens > out->tokens)) {
    out = ClientLimit{*fields.max_completion_tokens, "max_completion_tokens"};
  }
  return out;
}

}  // namespace

Result<ChargePlan> plan_charge(api::Endpoint endpoint, const api::RequestFields& fields, const config::Model& model,
                               const config::Limits& limits) {
  ChargePlan plan;
  if (endpoint != api::Endpoint::embeddings) {
    const auto& ceiling = limits.max_tokens_per_request;
    if (const auto client = client_limit(fields)) {
      if (ceiling && client->tokens > *ceiling) {
        return fail(Error::max_tokens_exceeded,
                    std::string(client->param) + " is " + std::to_string(client->tokens) +
                        ", over this plan's max_tokens_per_request of " + std::to_string(*ceiling),
                    client->param);
      }
      plan.allowance = Tokens{client->tokens};
    } else {
      std::int64_t allowance = model.max_output_tokens.value;
      if (ceiling) {
        const std::int64_t room = *ceiling - fields.prompt_bound.value;
        if (room < 1) {
          return fail(Error::max_tokens_exceeded,
                      "the prompt may be up to " + std::to_string(fields.prompt_bound.value) +
                          " tokens, which leaves no room for a completion under this plan's "
                          "max_tokens_per_request of " + std::to_string(*ceiling),
                      endpoint == api::Endpoint::chat_completions ? "messages" : "prompt");
        }
        allowance = std::min(allowance, room);
      }
      plan.allowance = Tokens{allowance};
      plan.write_allowance = true;
    }
  }
  plan.charge.tokens = fields.prompt_bound + plan.allowance;
  plan.charge.cost = cost_of(fields.prompt_bound, model.input_price) + cost_of(plan.allowance, model.output_price);
  return plan;
}

NanoUsd output_cost(const config::Model& model, Tokens tokens) { return cost_of(tokens, model.output_price); }

}  // namespace tollgate::limits
