#include "resp_command.hpp"

#include <hiredis/hiredis.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tollgate::redis {
namespace {

// What hiredis's own encoder makes of the same arguments: the bytes it would have sent.
std::string hiredis_format(const std::vector<std::string>& arguments) {
  std::vector<const char*> argv;
  std::vector<std::size_t> argvlen;
  for (const auto& argument : arguments) {
    argv.push_back(argument.data());
    argvlen.push_back(argument.size());
  }
  char* raw = nullptr;
  const int n = redisFormatCommandArgv(&raw, static_cast<int>(argv.size()), argv.data(), argvlen.data());
  EXPECT_GT(n, 0);
  std::string out(raw, static_cast<std::size_t>(n));
  redisFreeCommand(raw);
  return out;
}

TEST(RespCommand, IsWhatHiredisWouldSend) {
  std::string binary("a\r\nb\0c$*", 9);
  const std::vector<std::vector<std::string>> commands = {
      {"PING"},
      {"GET", ""},
      {"SET", "key", binary},
      {"EVALSHA", std::string(40, 'f'), "4", "k1", "k2", "k3", "k4", "a", "req-1", "600000", ""},
      {"SCRIPT", "LOAD", std::string(100'000, 'x')},
  };
  for (const auto& command : commands) {
    EXPECT_EQ(format_command(command), hiredis_format(command)) << command.front();
  }
}

TEST(RespCommand, PiecesMakeTheSameCommand) {
  const std::vector<std::string> command = {"EVALSHA", "abc", "1", "tg:{t}:leases", "", "12345678901234567890"};
  std::string out;
  append_command_header(out, command.size());
  for (const auto& argument : command) append_argument(out, argument);
  EXPECT_EQ(out, format_command(command));
  EXPECT_EQ(format_command({"AUTH", "user", "secret"}), hiredis_format({"AUTH", "user", "secret"}));
  EXPECT_EQ(format_command({"ROLE"}), "*1\r\n$4\r\nROLE\r\n");
}

}  // namespace
}  // namespace tollgate::redis
