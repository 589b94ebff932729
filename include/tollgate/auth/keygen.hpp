#pragma once
// Key generation and hashing for the `tollgate keygen` and `tollgate hash-key` commands
// (start-up/CLI path, never the request path: these may throw).
#include <string>
#include <string_view>

#include "tollgate/config/config.hpp"

namespace tollgate::auth {

struct GeneratedKey {
  std::string key;        // the whole secret key: print once, never store or log
  std::string prefix;     // "tg_XXXXXXXX"
  config::Sha256 sha256;  // of `key`
};

// A fresh key whose 40 base62 characters all come from OpenSSL's CSPRNG, drawn by
// rejection sampling so every character is equally likely. Throws std::runtime_error when
// the CSPRNG fails.
GeneratedKey generate_key();

// The YAML entry to paste under a tenant's `keys:` list (no secret, ends with '\n'):
//   - name: prod
//     prefix: tg_a1b2c3d4
//     sha256: <64 hex>
//     status: active
// `name` is double-quoted and escaped unless it is plainly safe YAML.
std::string key_entry_yaml(const GeneratedKey& key, std::string_view name);

// `tollgate hash-key`: the hex SHA-256 of `stdin_text` after stripping exactly one trailing
// "\n" or "\r\n" (what `echo` or a terminal adds); nothing else is trimmed.
std::string hash_key_input(std::string_view stdin_text);

}  // namespace tollgate::auth
