#include "resp_command.hpp"

#include <array>
#include <charconv>

namespace tollgate::redis {

namespace {

// `kind`, the decimal `n` and CRLF, in one append.
void append_length_line(std::string& out, char kind, std::size_t n) {
  std::array<char, 24> line;
  line[0] = kind;
  char* end = std::to_chars(line.data() + 1, line.data() + line.size() - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(line.data(), end);
}

template <class Arguments>
std::string format(const Arguments& arguments) {
  std::size_t size = 16;
  for (const auto& argument : arguments) size += argument.size() + 16;  // "$", digits, 2 CRLF
  std::string out;
  out.reserve(size);
  append_command_header(out, arguments.size());
  for (const auto& argument : arguments) append_argument(out, argument);
  return out;
}

}  // namespace

void append_command_header(std::string& out, std::size_t arguments) { append_length_line(out, '*', arguments); }

void append_argument(std::string& out, std::string_view argument) {
  append_length_line(out, '$', argument.size());
  out.append(argument);
  out.append("\r\n", 2);
}

std::string format_command(std::span<const std::string> arguments) { return format(arguments); }

std::string format_command(std::initializer_list<std::string_view> arguments) { return format(arguments); }

}  // namespace tollgate::redis
