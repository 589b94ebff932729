#include "tollgate/auth/key_format.hpp"

namespace tollgate::auth {

bool is_base62(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

bool is_well_formed(std::string_view key) {
  if (key.size() != kKeyLength || !key.starts_with(kKeyScheme)) return false;
  for (std::size_t i = kKeyScheme.size(); i < key.size(); ++i) {
    if (i == kPrefixLength) {
      if (key[i] != '_') return false;
    } else if (!is_base62(key[i])) {
      return false;
    }
  }
  return true;
}

std::string_view key_prefix(std::string_view key) {
  return is_well_formed(key) ? key.substr(0, kPrefixLength) : std::string_view{};
}

}  // namespace tollgate::auth
