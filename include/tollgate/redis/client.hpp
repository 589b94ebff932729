#pragma once
// Limits stage, Redis transport: one hiredis async connection driven by one worker's
// io_context (STYLE rule 1: one Client per worker, used only on that worker's thread, no
// thread of its own and never a blocking call). Connects in the background, reconnects with
// exponential backoff, loads the registered scripts on every (re)connect, and gives every
// command a deadline.
//
// Failure model. Every call answers a Result: Error::limits_unavailable when the connection
// is not ready, the command missed its deadline, the connection broke while it was in flight,
// or Redis answered READONLY (a replica after a failover: the connection is replaced). A late
// reply to a command that already timed out is dropped. Redis error replies other than
// READONLY are ordinary replies (Reply::Type::error) for the caller to judge. No message ever
// contains the password.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "tollgate/core/error.hpp"
#include "tollgate/redis/address.hpp"
#include "tollgate/redis/reply.hpp"
#include "tollgate/redis/script.hpp"

namespace tollgate::redis {

struct ClientOptions {
  Address address;
  std::chrono::milliseconds timeout{50};            // per command (limits.redis.timeout_ms)
  // Connect, AUTH, SELECT and SCRIPT LOAD together, on every (re)connect.
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds backoff_min{50};        // first wait after a failure, doubled up to
  std::chrono::milliseconds backoff_max{2000};      // this
  // This many commands in a row missing their deadline replace the connection (Redis stuck,
  // or a half-open TCP connection nobody will ever answer on).
  int max_timeouts_in_row = 3;
  std::vector<Script> scripts;                      // SCRIPT LOADed on every (re)connect
};

// Counters for metrics and tests; readable from any thread.
struct ClientStats {
  std::uint64_t connects = 0;          // connections that became ready
  std::uint64_t connect_failures = 0;  // attempts that did not (refused, timeout, AUTH, ...)
  std::uint64_t disconnects = 0;       // ready connections lost or replaced
  std::uint64_t timeouts = 0;          // commands that missed their deadline
  std::uint64_t noscript_reloads = 0;  // EVALSHA answered NOSCRIPT: script re-loaded, retried
  std::uint64_t readonly_errors = 0;   // READONLY replies (each replaces the connection)
};

class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClientOptions options);
  // Closes the connection (as stop()). Call on the worker's thread, or once its io_context no
  // longer runs. In-flight calls complete with an error when their coroutines next run.
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Starts connecting in the background (and keeps reconnecting until stop()). Only posts to
  // the executor: callable from any thread before or while the io_context runs. Once.
  void start();
  // Closes the connection and stops reconnecting; in-flight calls fail. Worker thread only.
  void stop();
  // Connected, authenticated, db selected and every script loaded. Any thread (for /readyz).
  bool ready() const;
  ClientStats stats() const;

  // Sends one command (e.g. {"GET", key}); binary-safe arguments. Fails at once when not
  // ready. The coroutine keeps the connection state alive: it may outlive the Client.
  boost::asio::awaitable<Result<Reply>> command(std::vector<std::string> args);

  // EVALSHA script.sha1 with `keys` and `args`; on NOSCRIPT (SCRIPT FLUSH, a restarted or
  // failed-over Redis) loads the script and retries once, both in one round trip.
  boost::asio::awaitable<Result<Reply>> eval(Script script, std::vector<std::string> keys,
                                             std::vector<std::string> args);

  struct State;  // the connection state shared with the client's coroutines (client.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace tollgate::redis
