#pragma once
// Admit stage, pure part: what one request must reserve (SPEC section 5). The completion
// allowance bounds what the provider may produce, so a non-streaming reply can never cost
// more than its reservation: when the client sent no max_tokens the gateway writes the
// allowance into the forwarded body.
#include "tollgate/api/request_fields.hpp"
#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"
#include "tollgate/limits/store.hpp"

namespace tollgate::limits {

struct ChargePlan {
  Tokens allowance;              // completion tokens reserved (0 for embeddings)
  bool write_allowance = false;  // the client sent none: the forwarded body must carry it
  Charge charge;                 // tokens_per_minute share and worst-case cost
};

// The allowance is the client's max_completion_tokens / max_tokens (the larger when both are
// sent, since providers differ in which one they honour); when absent,
// min(max_tokens_per_request - prompt bound, the model's max_output_tokens), or the model's
// max_output_tokens when the plan sets no ceiling. Embeddings reserve no completion.
// Worst case = prompt bound x input price + allowance x output price (rounded up).
// Fails with 400 max_tokens_exceeded when the client's value is over the plan's ceiling, or
// when the prompt bound alone leaves no room under it.
Result<ChargePlan> plan_charge(api::Endpoint endpoint, const api::RequestFields& fields,
                               const config::Model& model, const config::Limits& limits);

// The cost of `tokens` more completion tokens of `model` (a stream extending its reservation).
NanoUsd output_cost(const config::Model& model, Tokens tokens);

}  // namespace tollgate::limits
