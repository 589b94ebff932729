#pragma once
// Redis adapter: commands encoded in RESP (arrays of bulk strings), as hiredis's
// redisAsyncFormattedCommand takes them. hiredis's own encoder (redisAsyncCommandArgv: one
// sdscatfmt per argument into a buffer grown as it goes) cost ~12,000 instructions per
// EVALSHA in callgrind; this one sizes the buffer once and writes lengths with to_chars.
// Binary safe: an argument may hold any bytes.
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace tollgate::redis {

// Appends a command's header: it has `arguments` arguments (the command name included).
void append_command_header(std::string& out, std::size_t arguments);

// Appends one argument; a command is its header and then exactly that many arguments.
void append_argument(std::string& out, std::string_view argument);

// A whole command of `arguments`.
std::string format_command(std::span<const std::string> arguments);
std::string format_command(std::initializer_list<std::string_view> arguments);

}  // namespace tollgate::redis
