#pragma once
// The shape of a Tollgate API key, `tg_` + 8 base62 (public prefix) + `_` + 32 base62
// (secret); shared by keygen and the authenticate stage.
#include <cstddef>
#include <string_view>

namespace tollgate::auth {

inline constexpr std::string_view kBase62Alphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
inline constexpr std::string_view kKeyScheme = "tg_";
inline constexpr std::size_t kPublicChars = 8;
inline constexpr std::size_t kSecretChars = 32;
// "tg_XXXXXXXX": the only part of a key that may be logged or echoed to a client.
inline constexpr std::size_t kPrefixLength = kKeyScheme.size() + kPublicChars;
inline constexpr std::size_t kKeyLength = kPrefixLength + 1 + kSecretChars;

bool is_base62(char c);

// True when `key` is exactly `tg_` + 8 base62 + `_` + 32 base62.
bool is_well_formed(std::string_view key);

// The `tg_XXXXXXXX` part of a well-formed key (a view into `key`); empty for anything else,
// because the leading bytes of a foreign or mangled key may be secret.
std::string_view key_prefix(std::string_view key);

}  // namespace tollgate::auth
