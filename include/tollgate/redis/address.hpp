#pragma once
// Limits stage, Redis transport: where the shared limits store lives, parsed once from
// limits.redis.url (redis://[[user]:password@]host[:port][/db]).
#include <cstdint>
#include <string>
#include <string_view>

#include "tollgate/core/error.hpp"

namespace tollgate::redis {

struct Address {
  std::string host = "127.0.0.1";  // a literal IPv4/IPv6 address or a name (resolved on connect)
  std::uint16_t port = 6379;
  int db = 0;                       // SELECTed on connect when not 0
  std::string username;             // Redis 6 ACL user; empty: legacy AUTH <password>
  // Secret: never logged, never part of an error message or of describe().
  std::string password;             // empty: no AUTH

  // "host:port/db", safe for logs and error messages.
  std::string describe() const;
};

// Parses redis://[[user]:password@]host[:port][/db]. The user and password may be
// percent-encoded; an IPv6 host is written in brackets ("redis://[::1]:6379/0"). Defaults:
// port 6379, db 0. rediss:// (TLS) and query parameters are not supported.
// Errors (Error::limits_unavailable) say what is wrong without repeating any part of the URL,
// so a password can never end up in a message.
Result<Address> parse_redis_url(std::string_view url);

}  // namespace tollgate::redis
