#pragma once
// Admit stage, shared: the limits::Store every gateway instance shares through one Redis
// (limits.store: redis). Same semantics as LocalStore (store.hpp); each operation is one Lua
// script run with one EVALSHA (lua/*.lua, embedded at build time), atomic in Redis and timed
// by Redis's clock. Admits and settles of one tenant that arrive while one of theirs is in
// flight go together, in order, in the next EVALSHA of lua/limits.lua (script_batches.hpp):
// one script run for many requests, with the answers separate runs would give. Keys are
// hash-tagged per tenant (tg:{tenant}:...) and all expire; the layout is documented in
// lua/common.lua. Money stays integer nano-USD in Redis; the scripts compute in Lua doubles,
// exact below 2^53 nano-USD (about 9 million USD per budget window). Needs Redis 6.2 or later.
//
// Threading: one RedisStore per worker, on that worker's executor (its own hiredis
// connection); use it only on that worker's thread, except start() and ready().
// Failure: a store that cannot answer (not connected, deadline, connection lost, READONLY
// after a failover, a script error) never throws: admit answers Verdict::unavailable with the
// reason, extend answers false, settle and usage answer Error::limits_unavailable. No message
// contains the Redis password.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "tollgate/limits/store.hpp"
#include "tollgate/redis/client.hpp"

namespace tollgate::limits {

struct RedisStoreOptions {
  std::string url = "redis://127.0.0.1:6379/0";   // limits.redis.url; may hold a password
  std::chrono::milliseconds timeout{50};          // per Redis call (limits.redis.timeout_ms)
  // From limits.redis.password_env; overrides a password in the URL. Secret: never logged.
  std::optional<std::string> password;
};

class ScriptBatches;

struct BatchStats {
  std::uint64_t calls = 0;    // admits and settles
  std::uint64_t batches = 0;  // EVALSHAs that carried them
};

class RedisStore final : public Store {
 public:
  // Throws std::invalid_argument when options.url does not parse (a start-up error; the
  // message never contains the password). Does not connect: see start().
  RedisStore(boost::asio::any_io_executor executor, RedisStoreOptions options);
  // Closes the connection (stop()). On the worker's thread, or after its io_context stopped.
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  // Connects in the background and keeps reconnecting (backoff 50 ms .. 2 s) until stop().
  // Only posts to the executor: callable from any thread, before or while the worker runs.
  void start();
  // Closes the connection for good; calls in flight fail, later calls fail at once. Worker
  // thread only (e.g. the drain coroutine at shutdown).
  void stop();
  // Connected, authenticated and every script loaded (for /readyz). Any thread.
  bool ready() const;
  redis::ClientStats stats() const;
  // Admit and settle calls so far, and the EVALSHAs that carried them (fewer under load).
  BatchStats batch_stats() const;

  boost::asio::awaitable<Admission> admit(const AdmitRequest& request) override;
  boost::asio::awaitable<bool> extend(std::string_view tenant, std::string_view request_id,
                                      const config::Limits& limits, NanoUsd more,
                                      std::chrono::seconds reservation_ttl) override;
  boost::asio::awaitable<Result<SettleResult>> settle(std::string_view tenant, std::string_view request_id,
                                                      const config::Limits& limits,
                                                      const Settlement& used) override;
  boost::asio::awaitable<Result<TenantUsage>> usage(std::string_view tenant) override;

 private:
  std::unique_ptr<redis::Client> client_;
  std::unique_ptr<ScriptBatches> batches_;  // admits and settles (lua/limits.lua)
};

}  // namespace tollgate::limits
