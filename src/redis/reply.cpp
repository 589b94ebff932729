#include "tollgate/redis/reply.hpp"

#include <charconv>

#include "hiredis_reply.hpp"

namespace tollgate::redis {

bool Reply::has_error_code(std::string_view code) const {
  if (type != Type::error || !std::string_view(text).starts_with(code)) return false;
  return text.size() == code.size() || text[code.size()] == ' ';
}

std::optional<std::int64_t> Reply::as_integer() const {
  if (type == Type::integer) return integer;
  if (type != Type::string && type != Type::status) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Reply from_hiredis(const redisReply& reply) {
  Reply out;
  switch (reply.type) {
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::string;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::status;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::error;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::integer;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::array;
      out.elements.reserve(reply.elements);
      for (std::size_t i = 0; i < reply.elements; ++i) {
        if (reply.element[i] == nullptr) {
          out.elements.emplace_back();
        } else {
          out.elements.push_back(from_hiredis(*reply.element[i]));
        }
      }
      break;
    case REDIS_REPLY_NIL:
    default:
      out.type = Reply::Type::nil;
      break;
  }
  return out;
}

}  // namespace tollgate::redis
