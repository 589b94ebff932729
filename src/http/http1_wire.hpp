#pragma once
// HTTP stage, private: the HTTP/1.1 bytes of a response head and of a chunk's framing, built
// directly instead of through Beast's serializer. Same bytes as Beast writes; the serializer's
// buffer-sequence machinery cost ~30,000 instructions per response in callgrind, this a few
// hundred, and a head plus its body go out in one gathered write.
#include <array>
#include <charconv>
#include <cstddef>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>

namespace tollgate::http {

// The status line, the fields in their order and the blank line that ends the head. The
// reason phrase is the response's own, else the standard one for its code (as Beast does).
template <class Fields>
std::string wire_head(const boost::beast::http::response_header<Fields>& head) {
  std::string out;
  out.reserve(256);
  out += "HTTP/";
  out += static_cast<char>('0' + head.version() / 10);
  out += '.';
  out += static_cast<char>('0' + head.version() % 10);
  out += ' ';
  std::array<char, 8> code{};
  const auto [end, ec] = std::to_chars(code.data(), code.data() + code.size(), head.result_int());
  out.append(code.data(), end);
  out += ' ';
  std::string_view reason(head.reason().data(), head.reason().size());
  if (reason.empty()) {
    const auto standard = boost::beast::http::obsolete_reason(head.result());
    reason = std::string_view(standard.data(), standard.size());
  }
  out += reason;
  out += "\r\n";
  for (const auto& field : head) {
    out.append(field.name_string().data(), field.name_string().size());
    out += ": ";
    out.append(field.value().data(), field.value().size());
    out += "\r\n";
  }
  out += "\r\n";
  return out;
}

// The framing around one chunk of a chunked body: "<size in hex>\r\n" before it, "\r\n" after.
class ChunkFrame {
 public:
  explicit ChunkFrame(std::size_t size) {
    const auto [end, ec] = std::to_chars(prefix_.data(), prefix_.data() + prefix_.size() - 2, size, 16);
    end[0] = '\r';
    end[1] = '\n';
    prefix_size_ = static_cast<std::size_t>(end + 2 - prefix_.data());
  }

  std::string_view prefix() const { return {prefix_.data(), prefix_size_}; }
  static constexpr std::string_view suffix() { return "\r\n"; }
  // The last chunk and the end of the (trailer-less) body.
  static constexpr std::string_view last() { return "0\r\n\r\n"; }

 private:
  std::array<char, 20> prefix_{};  // 16 hex digits at most, then CRLF
  std::size_t prefix_size_ = 0;
};

}  // namespace tollgate::http
