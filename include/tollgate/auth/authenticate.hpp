#pragma once
// The authenticate stage: take the API key from the request headers and resolve it to a
// tenant and key of the current config snapshot, or to a 401/403 Failure.
#include <chrono>
#include <optional>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"

namespace tollgate::auth {

// The key from `Authorization: Bearer <key>` (scheme case-insensitive, one or more spaces,
// trailing spaces/tabs trimmed), else from `x-api-key` (trimmed). Pass an empty view for an
// absent header. nullopt when neither yields a non-empty key. The result views one of the
// arguments.
std::optional<std::string_view> extract_key(std::string_view authorization_header,
                                            std::string_view x_api_key_header);

// Who is calling. Non-owning: both point into the Config snapshot the request holds, so a
// Principal must not outlive that snapshot. Never null.
struct Principal {
  const config::Tenant* tenant;
  const config::Key* key;
};

// Looks the key up by SHA-256 in policy.key_index. Failures, in order of checking:
//   401 invalid_api_key  missing, malformed, unknown, revoked, expired (a key is valid
//                        through the end of its `expires` UTC day);
//   403 tenant_suspended the key is valid but its tenant is suspended.
// Failure messages never contain any part of the key but its public prefix. Client input
// never makes it throw.
Result<Principal> authenticate(const config::Policy& policy, std::optional<std::string_view> key,
                               std::chrono::system_clock::time_point now);

}  // namespace tollgate::auth
