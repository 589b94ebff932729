#include "tollgate/auth/authenticate.hpp"

#include <string>

#include "tollgate/auth/key_format.hpp"
#include "tollgate/auth/key_hash.hpp"

namespace tollgate::auth {
namespace {

Failure invalid_key(std::string message) {
  return fail(Error::invalid_api_key, std::move(message));
}

}  // namespace

Result<Principal> authenticate(const config::Policy& policy, std::optional<std::string_view> key,
                               std::chrono::system_clock::time_point now) {
  if (!key || key->empty()) {
    return invalid_key("Missing API key. Pass it as 'Authorization: Bearer <key>' or 'x-api-key'.");
  }
  // Checked before hashing so that junk (other vendors' keys, pasted tokens) is never
  // echoed and costs nothing; from here on only key_prefix() may reach a message.
  if (!is_well_formed(*key)) return invalid_key("Malformed API key.");

  const auto found = policy.key_index.find(config::key_index_key(sha256(*key)));
  // The bounds checks guard against a malformed index, which config::load never builds.
  if (found == policy.key_index.end() || found->second.tenant >= policy.tenants.size() ||
      found->second.key >= policy.tenants[found->second.tenant].keys.size()) {
    return invalid_key("Incorrect API key provided: " + std::string(key_prefix(*key)) + "...");
  }
  const config::Tenant& tenant = policy.tenants[found->second.tenant];
  const config::Key& entry = tenant.keys[found->second.key];

  if (entry.revoked) return invalid_key("API key has been revoked.");
  // `expires` names the last valid UTC day: the key stops working at the next midnight.
  if (entry.expires && now >= *entry.expires + std::chrono::days{1}) {
    return invalid_key("API key has expired.");
  }
  // Key problems come first: a suspended tenant's dead key still reads as a bad key.
  if (tenant.suspended) return fail(Error::tenant_suspended, "Tenant is suspended.");
  return Principal{&tenant, &entry};
}

}  // namespace tollgate::auth
