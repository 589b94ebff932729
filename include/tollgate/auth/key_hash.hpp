#pragma once
// SHA-256 of API keys and its hex form: the only form in which keys are stored (config,
// `keygen`, `hash-key`) and looked up (authenticate stage).
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/config/config.hpp"

namespace tollgate::auth {

// SHA-256 of `data` (OpenSSL EVP). Thread-safe. Throws std::runtime_error only if OpenSSL
// itself fails (allocation failure), which the request path treats as a bug.
config::Sha256 sha256(std::string_view data);

// 64 lowercase hex digits.
std::string to_hex(const config::Sha256& digest);

// Parses exactly 64 hex digits (either case); nullopt on any other length or character.
std::optional<config::Sha256> from_hex(std::string_view hex);

}  // namespace tollgate::auth
