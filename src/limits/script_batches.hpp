#pragma once
// Limits stage, Redis side: runs the calls of a batch script (lua/limits.lua) for one tenant
// together. The first call runs at once, alone; the calls that arrive while it is in flight
// wait and then go together as one EVALSHA, in arrival order, and so on. No call waits for a
// timer or for a batch to fill: under light load every batch holds one call, under heavy load
// one round trip and one script run serve many (redis-server's CPU per request limited the
// Redis store's throughput; a batch costs little more than one call). One queue per tenant
// keeps a tenant's calls in order: a settle is never overtaken by a later admit.
//
// The script gets the tenant's KEYS and every call's ARGV values one after the other, and
// answers one array element per call, in order. Every call gets its own element; a failure of
// the whole batch (transport, script error, a reply of the wrong shape) is every call's.
// Threading: one per RedisStore, on its worker's thread only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "tollgate/core/error.hpp"
#include "tollgate/redis/client.hpp"
#include "tollgate/redis/reply.hpp"
#include "tollgate/redis/script.hpp"

namespace tollgate::limits {

class ScriptBatches {
 public:
  // At most this many calls per EVALSHA; more wait for the next batch.
  static constexpr std::size_t kMaxBatch = 64;

  // The script's KEYS for a tenant.
  using Keys = std::vector<std::string> (*)(std::string_view tenant);

  ScriptBatches(redis::Client& client, redis::Script script, Keys keys);

  // Runs the script for `tenant`'s call with `args` (the call's ARGV values) and answers this
  // call's element of the reply.
  boost::asio::awaitable<Result<redis::Reply>> call(std::string_view tenant, std::vector<std::string> args);

  std::uint64_t calls() const { return calls_; }
  std::uint64_t batches() const { return batches_; }

 private:
  struct Waiter;
  struct Queue {
    bool busy = false;              // a batch of this tenant is in flight
    std::vector<Waiter*> waiting;  // calls for the next batch, in arrival order
  };

  boost::asio::awaitable<void> run(std::string_view tenant, std::vector<Waiter*> batch);
  void hand_over(std::string_view tenant);

  redis::Client& client_;
  redis::Script script_;
  Keys keys_;
  std::unordered_map<std::string, Queue> queues_;  // tenants with a batch in flight
  std::uint64_t calls_ = 0;
  std::uint64_t batches_ = 0;
};

}  // namespace tollgate::limits
