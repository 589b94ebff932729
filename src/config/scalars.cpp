#include "scalars.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <limits>

namespace tollgate::config::detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (!all_digits(text) || text.size() > 5) return std::nullopt;
  unsigned v = 0;
  for (char c : text) v = v * 10 + static_cast<unsigned>(c - '0');
  if (v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

// inet_pton is the strictest validator at hand (dotted quad only, full IPv6 grammar).
bool is_ipv4(const std::string& s) {
  in_addr a{};
  return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool is_ipv6(const std::string& s) {
  in6_addr a{};
  return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

bool is_dns_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
  }
  return true;
}

std::uint16_t default_port(std::string_view scheme) {
  if (scheme == "https") return 443;
  if (scheme == "redis" || scheme == "rediss") return 6379;
  return 80;
}

std::string join_schemes(std::initializer_list<std::string_view> schemes) {
  std::string out;
  std::size_t i = 0;
  for (auto s : schemes) {
    if (i > 0) out += (i + 1 == schemes.size()) ? " or " : ", ";
    out += s;
    ++i;
  }
  return out;
}

}  // namespace

std::string in_quotes(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) out += "...";
  out += '"';
  return out;
}

std::optional<std::int64_t> parse_positive_int(std::string_view text) {
  if (!all_digits(text)) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size() || v <= 0) return std::nullopt;
  return v;
}

std::optional<NanoUsd> parse_usd_amount(std::string_view text) { return parse_usd(text); }

std::optional<double> parse_fraction(std::string_view text) {
  // Parsed exactly as a 9-decimal amount so "0.8" means exactly 8/10 of a budget.
  auto v = parse_usd(text);
  if (!v || v->value <= 0 || v->value > kNanoPerUsd) return std::nullopt;
  return static_cast<double>(v->value) / static_cast<double>(kNanoPerUsd);
}

Parsed<Url> parse_url(std::string_view text, std::initializer_list<std::string_view> schemes) {
  // URL text is never echoed back: a URL may carry credentials by mistake.
  const auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    return Parsed<Url>::fail("expected a URL like " + std::string(*schemes.begin()) + "://host[:port][/path]");
  }
  Url url;
  url.scheme = std::string(text.substr(0, sep));
  bool known = false;
  for (auto s : schemes) known = known || s == url.scheme;
  if (!known) {
    return Parsed<Url>::fail("unsupported URL scheme " + in_quotes(url.scheme.substr(0, 16)) + " (expected " + join_schemes(schemes) + ")");
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return Parsed<Url>::fail("URL must not have a query or fragment");
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return Parsed<Url>::fail("URL must not contain user info (secrets come from the environment)");
  }
  std::string_view host = authority;
  std::optional<std::string_view> port_text;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return Parsed<Url>::fail("URL has an unterminated [IPv6] host");
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Parsed<Url>::fail("URL has junk after the [IPv6] host");
      port_text = after.substr(1);
    }
    if (!is_ipv6(std::string(host))) return Parsed<Url>::fail("URL has an invalid IPv6 host");
  } else {
    const auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) return Parsed<Url>::fail("URL has no host");
    if (!is_dns_name(host)) return Parsed<Url>::fail("URL has an invalid host");
  }
  url.host = std::string(host);
  url.port = default_port(url.scheme);
  if (port_text) {
    auto p = parse_port(*port_text);
    if (!p || *p == 0) return Parsed<Url>::fail("URL has an invalid port (expected 1..65535)");
    url.port = *p;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  url.path = std::string(path);
  return Parsed<Url>::ok(std::move(url));
}

Parsed<HostPort> parse_host_port(std::string_view text) {
  const std::string shown = in_quotes(text);
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || text.substr(colon).find(']') != std::string_view::npos) {
    return Parsed<HostPort>::fail("expected host:port, got " + shown);
  }
  std::string_view host = text.substr(0, colon);
  HostPort hp;
  if (!host.empty() && host.front() == '[' && host.back() == ']' && host.size() >= 2) {
    hp.host = std::string(host.substr(1, host.size() - 2));
    if (!is_ipv6(hp.host)) return Parsed<HostPort>::fail("invalid IPv6 address in " + shown);
  } else {
    hp.host = std::string(host);
    if (hp.host != "localhost" && !is_ipv4(hp.host)) {
      return Parsed<HostPort>::fail("expected an IPv4 address, [IPv6] address or localhost before the port, got " + shown);
    }
  }
  auto port = parse_port(text.substr(colon + 1));
  if (!port) return Parsed<HostPort>::fail("port must be 0..65535 in " + shown);
  hp.port = *port;
  return Parsed<HostPort>::ok(std::move(hp));
}

std::optional<std::chrono::sys_days> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto y = parse_positive_int(text.substr(0, 4));
  auto m = parse_positive_int(text.substr(5, 2));
  auto d = parse_positive_int(text.substr(8, 2));
  if (!y || !m || !d) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{static_cast<int>(*y)},
                                        std::chrono::month{static_cast<unsigned>(*m)},
                                        std::chrono::day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days{ymd};
}

Parsed<Sha256> parse_sha256_hex(std::string_view text) {
  if (text.size() != 64) {
    return Parsed<Sha256>::fail("expected 64 hex digits (SHA-256 of the key), got " + std::to_string(text.size()) +
                                " characters");
  }
  Sha256 out{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(text[2 * i]);
    const int lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return Parsed<Sha256>::fail("expected 64 hex digits (SHA-256 of the key), found a non-hex character");
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return Parsed<Sha256>::ok(out);
}

bool is_key_prefix(std::string_view text) {
  if (text.size() != 11 || text.substr(0, 3) != "tg_") return false;
  for (char c : text.substr(3)) {
    if (!is_alnum(c)) return false;
  }
  return true;
}

bool is_env_name(std::string_view text) {
  if (text.empty() || is_digit(text.front())) return false;
  for (char c : text) {
    if (!is_alnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace tollgate::config::detail
