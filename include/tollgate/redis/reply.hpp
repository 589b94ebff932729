#pragma once
// Limits stage, Redis transport: one Redis reply, our own copy of hiredis's reply tree so no
// hiredis type leaks out of src/redis.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::redis {

struct Reply {
  enum class Type { nil, status, error, integer, string, array };

  Type type = Type::nil;
  std::int64_t integer = 0;     // Type::integer
  std::string text;             // Type::status, Type::error, Type::string
  std::vector<Reply> elements;  // Type::array

  bool is_error() const { return type == Type::error; }
  bool is_nil() const { return type == Type::nil; }
  // True for an error reply whose first word (Redis's error code) is `code`, e.g. "NOSCRIPT".
  bool has_error_code(std::string_view code) const;
  // An integer reply, or a string/status reply holding a whole decimal integer.
  std::optional<std::int64_t> as_integer() const;
};

}  // namespace tollgate::redis
