#pragma once
// Test support: a real redis-server child process on a free loopback port, in its own temp
// directory, for integration tests of the Redis adapter and RedisStore. Started and stopped
// only by its own PID. Blocking calls are fine here: tests only.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "tollgate/redis/reply.hpp"

namespace tollgate::testing {

struct RedisServerOptions {
  std::string password;              // requirepass when not empty
  std::vector<std::string> extra;    // more redis-server arguments, e.g. {"--maxclients", "64"}
  std::chrono::milliseconds start_timeout{10'000};
};

class RedisServer {
 public:
  // Starts redis-server (/usr/bin/redis-server, or $TOLLGATE_REDIS_SERVER) and waits until it
  // answers PING. Picks a free port by binding an ephemeral socket, closing it, and retrying
  // with another port when the server cannot bind it. Throws std::runtime_error on failure.
  explicit RedisServer(RedisServerOptions options = {});
  ~RedisServer();  // SIGKILLs the server if still running, removes the temp directory
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // redis://[:password@]127.0.0.1:<port>/<db>
  std::string url(int db = 0) const;

  void stop();     // SIGTERM, wait for the exit (SIGKILL after 10 s)
  void kill();     // SIGKILL, wait for the exit
  void restart();  // stop() if running, then start again on the same port and wait for PING
  void pause();    // SIGSTOP: the server accepts nothing and answers nothing until resume()
  void resume();   // SIGCONT

  // Runs one command on a fresh blocking connection (AUTH and SELECT `db` first). Throws
  // std::runtime_error when the server cannot be reached.
  redis::Reply command(const std::vector<std::string>& args, int db = 0) const;

  // Every key of `db` (SCAN), for tests that inspect the key layout.
  std::vector<std::string> keys(int db = 0) const;

 private:
  bool spawn_and_wait();  // false: the server exited before answering (port taken?)
  bool answers_ping() const;
  void wait_exit(std::chrono::milliseconds timeout);

  RedisServerOptions options_;
  std::string dir_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tollgate::testing
