#pragma once
// Admit stage, embedded: the in-process limits::Store (limits.store: local, and the
// rate-limit fallback while Redis is down). Same semantics as RedisStore (store.hpp), kept in
// memory and persisted to one state file so a restart never resets spend.
//
// Threading. One LocalStore serves every worker: a tenant's buckets, windows and leases are
// shared by all cores, because its requests land on any worker. The state is split into
// shards by tenant name, each a mutex and a map; a call holds its tenant's shard lock only for
// the arithmetic of that one call (no await, no I/O under it), so contention is limited to
// requests of tenants in the same shard at the same instant. The alternative, owning each
// tenant on one worker, would cost a cross-thread hop and two wake-ups on every request.
// The flush thread takes each shard lock in turn only to format that shard's tenants.
// Every awaitable completes inline: it never suspends and never posts.
//
// Persistence. A background thread writes the whole state to <state_dir>/limits.state when it
// changed, at most every flush_interval, atomically (temp file, fsync, rename, fsync of the
// directory); flush() and the destructor write it at once. open() reads it back and charges
// every lease found there in full (its reserved cost becomes spent in its windows, its slot
// is free): the process that could have settled it is gone, and a lost settle must never
// create budget. A lost flush (kill -9) loses at most flush_interval of state.
//
// State file format, version 1: UTF-8 text, one record per line, fields separated by one
// space, every line ending in "\n". Names (tenants, request ids) percent-encode every byte
// outside [A-Za-z0-9._-] ("~" is the empty name). Times are Unix seconds (windows) or
// milliseconds (buckets, lease expiry); money is nano-USD; bucket levels are doubles.
//   tollgate-limits-state 1
//   tenant <name>
//   day <start_s> <requests> <input_tokens> <output_tokens> <spent> <reserved> <alerted 0|1>
//   month <start_s> <requests> <input_tokens> <output_tokens> <spent> <reserved> <alerted 0|1>
//   requests <level> <ts_ms>                       (absent until the bucket is first used)
//   tokens <level> <ts_ms>                         (idem)
//   lease <request_id> <tokens> <cost> <expires_ms> <day_start_s> <month_start_s> <downgraded 0|1>
//   ... (one block per tenant, starting with its tenant line)
//   end <number of tenants>
// A window's reserved must equal the sum of the costs of the leases belonging to it. Anything
// else (unknown line, bad number, missing end line, wrong count, unknown version) makes open()
// fail: the file is never silently reset. A leftover limits.state.tmp (a write torn by a
// crash) is ignored and removed.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "tollgate/core/clock.hpp"
#include "tollgate/core/error.hpp"
#include "tollgate/limits/store.hpp"

namespace tollgate::limits {

struct LocalStoreOptions {
  // Where limits.state lives (created if missing). Empty: memory only, nothing survives.
  std::string state_dir;
  // Longest time a change waits before the background thread writes it.
  std::chrono::milliseconds flush_interval{1000};
};

class LocalStore final : public Store {
 public:
  // Reads <state_dir>/limits.state (a missing file is an empty state) and starts the flush
  // thread. Errors (Error::limits_unavailable, naming the file): state_dir cannot be created,
  // the file cannot be read or is corrupt, or another LocalStore holds <state_dir>/limits.lock.
  // `clock` must outlive the store.
  static Result<std::unique_ptr<LocalStore>> open(const Clock& clock, LocalStoreOptions options);

  // Stops the flush thread and flushes (a failure is logged at warn).
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // Writes the state file now if anything changed since the last write (called at shutdown).
  // Any thread; blocks on disk I/O, so never on a worker. A no-op when memory only.
  Result<void> flush();

  // Background writes that failed (each also logged at warn); the state stays in memory and
  // the next write retries.
  std::uint64_t flush_failures() const;

  // The Store operations (semantics in store.hpp). Each runs when first awaited and completes
  // without suspending; like every Store call, its arguments must outlive the await.
  boost::asio::awaitable<Admission> admit(const AdmitRequest& request) override;
  boost::asio::awaitable<bool> extend(std::string_view tenant, std::string_view request_id,
                                      const config::Limits& limits, NanoUsd more,
                                      std::chrono::seconds reservation_ttl) override;
  boost::asio::awaitable<Result<SettleResult>> settle(std::string_view tenant, std::string_view request_id,
                                                      const config::Limits& limits,
                                                      const Settlement& used) override;
  std::optional<Result<SettleResult>> settle_now(std::string_view tenant, std::string_view request_id,
                                                 const config::Limits& limits, const Settlement& used) override;
  boost::asio::awaitable<Result<TenantUsage>> usage(std::string_view tenant) override;

 private:
  struct Impl;
  explicit LocalStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::limits
