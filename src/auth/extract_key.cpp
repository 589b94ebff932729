#include <cstddef>

#include "tollgate/auth/authenticate.hpp"

namespace tollgate::auth {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  return s;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The credentials of `Authorization: Bearer <token>`; empty for any other scheme.
std::string_view bearer_token(std::string_view header) {
  constexpr std::string_view kScheme = "bearer";
  header = trim(header);
  if (header.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (ascii_lower(header[i]) != kScheme[i]) return {};
  }
  header.remove_prefix(kScheme.size());
  // RFC 7235: the scheme and the credentials are separated by one or more spaces.
  if (header.front() != ' ') return {};
  return trim(header);
}

}  // namespace

std::optional<std::string_view> extract_key(std::string_view authorization_header,
                                            std::string_view x_api_key_header) {
  if (std::string_view token = bearer_token(authorization_header); !token.empty()) return token;
  if (std::string_view token = trim(x_api_key_header); !token.empty()) return token;
  return std::nullopt;
}

}  // namespace tollgate::auth
