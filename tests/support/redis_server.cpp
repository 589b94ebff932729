#include "redis_server.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include "hiredis_reply.hpp"

extern char** environ;

namespace tollgate::testing {
namespace {

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind an ephemeral port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string server_binary() {
  const char* env = std::getenv("TOLLGATE_REDIS_SERVER");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/redis-server";
}

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;

struct ReplyFree {
  void operator()(void* r) const { freeReplyObject(r); }
};

ContextPtr connect(std::uint16_t port) {
  const timeval timeout{1, 0};
  ContextPtr c(redisConnectWithTimeout("127.0.0.1", port, timeout));
  if (!c || c->err != 0) return nullptr;
  redisSetTimeout(c.get(), timeval{5, 0});
  return c;
}

redis::Reply run(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> argvlen;
  for (const auto& a : args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  std::unique_ptr<void, ReplyFree> reply(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), argvlen.data()));
  if (!reply) throw std::runtime_error(std::string("redis command failed: ") + c->errstr);
  return redis::from_hiredis(*static_cast<redisReply*>(reply.get()));
}

}  // namespace

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  char pattern[] = "/tmp/tollgate-redis-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir_ = pattern;
  for (int attempt = 0; attempt < 20; ++attempt) {
    port_ = free_port();
    if (spawn_and_wait()) return;
  }
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("redis-server did not start (see its log in a tollgate-redis-* temp dir)");
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds(10));
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string RedisServer::url(int db) const {
  std::string auth = options_.password.empty() ? "" : ":" + options_.password + "@";
  return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

bool RedisServer::spawn_and_wait() {
  std::vector<std::string> args = {server_binary(), "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", dir_,
                                   "--logfile", dir_ + "/redis.log", "--daemonize", "no",
                                   "--enable-debug-command", "yes"};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  for (const auto& e : options_.extra) args.push_back(e);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    throw std::runtime_error("cannot start " + args[0] + ": " + std::strerror(rc));
  }

  const auto deadline = std::chrono::steady_clock::now() + options_.start_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: most likely the port was taken
      pid_ = -1;
      return false;
    }
    if (answers_ping()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  return false;
}

bool RedisServer::answers_ping() const {
  auto c = connect(port_);
  if (!c) return false;
  try {
    if (!options_.password.empty()) run(c.get(), {"AUTH", options_.password});
    const auto reply = run(c.get(), {"PING"});
    return reply.type == redis::Reply::Type::status && reply.text == "PONG";
  } catch (const std::runtime_error&) {
    return false;
  }
}

void RedisServer::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno == ECHILD)) {
      pid_ = -1;
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void RedisServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGTERM);
  wait_exit(std::chrono::seconds(10));
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  wait_exit(std::chrono::seconds(10));
}

void RedisServer::restart() {
  stop();
  // Same port: redis-server sets SO_REUSEADDR, so connections in TIME_WAIT do not block it.
  // Another process could have taken the port meanwhile; retry a few times before giving up.
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (spawn_and_wait()) return;
  }
  throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

void RedisServer::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void RedisServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

redis::Reply RedisServer::command(const std::vector<std::string>& args, int db) const {
  auto c = connect(port_);
  if (!c) throw std::runtime_error("cannot connect to redis-server on port " + std::to_string(port_));
  if (!options_.password.empty()) run(c.get(), {"AUTH", options_.password});
  if (db != 0) run(c.get(), {"SELECT", std::to_string(db)});
  return run(c.get(), args);
}

std::vector<std::string> RedisServer::keys(int db) const {
  std::vector<std::string> out;
  std::string cursor = "0";
  do {
    const auto reply = command({"SCAN", cursor, "COUNT", "1000"}, db);
    if (reply.type != redis::Reply::Type::array || reply.elements.size() != 2) {
      throw std::runtime_error("unexpected SCAN reply");
    }
    cursor = reply.elements[0].text;
    for (const auto& key : reply.elements[1].elements) out.push_back(key.text);
  } while (cursor != "0");
  return out;
}

}  // namespace tollgate::testing
