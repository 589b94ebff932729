#pragma once
// Gateway (accounting): what a finished request contributes to the worker's metrics shard, and
// the SPEC section 7 `reason` label of a refusal.
#include <string_view>

#include "tollgate/core/error.hpp"

namespace tollgate::gateway {

// The `reason` of tollgate_rejected_total for a request refused with `code`; "" when `code`
// is not a refusal (the provider or the gateway failed: 502, 504, shutdown).
std::string_view rejection_reason(Error code);

// The `reason` for a 429, from the name of the limit that refused it (the stores' limit_name).
std::string_view rate_limit_reason(std::string_view limit_name);

}  // namespace tollgate::gateway
