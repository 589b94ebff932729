#pragma once
// Limits stage, Redis transport: a Lua script with its SHA1, computed once (STYLE rule 6), so
// the client can load it on connect and run it with EVALSHA.
#include <string>
#include <string_view>

namespace tollgate::redis {

struct Script {
  // `source` must outlive every use of the Script: in practice a string embedded in the
  // binary (static storage), so copying a Script is cheap.
  static Script make(std::string_view name, std::string_view source);

  std::string_view name;    // for logs
  std::string_view source;
  std::string sha1;         // 40 lowercase hex digits, as SCRIPT LOAD answers
};

// The lowercase hex SHA1 of `text` (OpenSSL).
std::string sha1_hex(std::string_view text);

}  // namespace tollgate::redis
