#include "tollgate/redis/address.hpp"

#include <charconv>
#include <optional>

#include <boost/asio/ip/address.hpp>

namespace tollgate::redis {
namespace {

// Every message names only the part that is wrong, never its text: the URL may hold a secret.
Failure invalid(std::string_view what) {
  return fail(Error::limits_unavailable, "invalid redis url: " + std::string(what) +
                                             " (expected redis://[[user]:password@]host[:port][/db])");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int high = hex_value(text[i + 1]);
    const int low = hex_value(text[i + 2]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
    i += 2;
  }
  return out;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

std::string Address::describe() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + std::to_string(db);
}

Result<Address> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.starts_with("rediss://")) return invalid("TLS (rediss://) is not supported");
  if (!url.starts_with(kScheme)) return invalid("the scheme must be redis://");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string_view::npos) return invalid("query and fragment are not supported");

  Address address;
  // Authority ends at the first '/'; userinfo ends at its last '@' (a raw '@' in a password
  // is tolerated, though it should be percent-encoded).
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);

  if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const auto colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      // redis://secret@host: Redis has no user without a password; take it as the password.
      auto password = percent_decode(userinfo);
      if (!password) return invalid("bad percent-encoding in the password");
      address.password = std::move(*password);
    } else {
      auto user = percent_decode(userinfo.substr(0, colon));
      if (!user) return invalid("bad percent-encoding in the user name");
      auto password = percent_decode(userinfo.substr(colon + 1));
      if (!password) return invalid("bad percent-encoding in the password");
      address.username = std::move(*user);
      address.password = std::move(*password);
    }
    if (address.password.empty()) return invalid("empty password");
  }

  std::string_view host;
  std::string_view port;
  if (authority.starts_with('[')) {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return invalid("unterminated IPv6 address");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return invalid("unexpected text after the IPv6 address");
      port = after.substr(1);
      if (port.empty()) return invalid("empty port");
    }
    boost::system::error_code ec;
    boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec) return invalid("bad IPv6 address");
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return invalid("empty port");
    }
    for (const char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '-' || c == '_';
      if (!ok) return invalid("bad character in the host name");
    }
  }
  if (host.empty()) return invalid("missing host");
  address.host = std::string(host);

  if (!port.empty()) {
    const auto value = parse_number<unsigned>(port);
    if (!value || *value == 0 || *value > 65535) return invalid("the port must be a number in 1..65535");
    address.port = static_cast<std::uint16_t>(*value);
  }
  if (!path.empty()) {
    const auto db = parse_number<int>(path);
    if (!db || *db < 0 || *db > 65535) return invalid("the database must be a number in 0..65535");
    address.db = *db;
  }
  return address;
}

}  // namespace tollgate::redis
