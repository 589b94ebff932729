#pragma once
// Admit stage: asks the limits store, applies `on_store_error` when it cannot answer (SPEC
// section 5), and hands back a Reservation that is settled exactly once on every path.
// One StoreGuard per worker: its counters are plain integers read by that worker's metrics.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/limits/store.hpp"

namespace tollgate::limits {

// tollgate_limits_store_errors_total{decision}: what was decided when the store could not answer.
struct StoreErrorStats {
  std::uint64_t rate_limits_local = 0;   // admitted on this instance's own buckets
  std::uint64_t rate_limits_open = 0;    // admitted without rate limits
  std::uint64_t rate_limits_closed = 0;  // refused (503)
  std::uint64_t budgets_open = 0;        // admitted without a budget check
  std::uint64_t budgets_closed = 0;      // refused (503)
};

class StoreGuard;

// An admitted request's hold on its tenant's limits. Move-only. settle() replaces it by what
// was used; if it is dropped unsettled (a path that forgot, or an exception) it is settled in
// full, in the background, so a lost settle never creates budget. Not thread-safe: it lives in
// one request's coroutine frame on one worker.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& other) noexcept;
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  // Settles in the background (off the request path), logging any budget alert; the guard
  // counts it until it is done (StoreGuard::pending()).
  void settle(const Settlement& used);

  // Grows the reservation by `more`; false when the budget cannot cover it (or the store
  // cannot answer). Completes on the caller's executor.
  boost::asio::awaitable<bool> extend(NanoUsd more);

  NanoUsd reserved_cost() const { return cost_; }

 private:
  friend class StoreGuard;
  void settle_in_full();

  StoreGuard* guard_ = nullptr;  // null: nothing to settle (admitted without a store)
  Store* store_ = nullptr;
  std::string tenant_;
  std::string request_id_;
  config::Limits limits_;
  std::chrono::seconds ttl_{600};
  NanoUsd cost_;
  Tokens tokens_;
};

struct AdmitResult {
  Admission admission;  // verdict admitted: `reservation` holds it
  std::optional<Reservation> reservation;
};

// Told about every budget alert a settle raises (the usage sink turns it into an event). Runs
// on the worker's thread; must not block.
using AlertHandler = std::function<void(std::string_view tenant, const BudgetAlert& alert)>;

class StoreGuard {
 public:
  // `store` is the configured store; `fallback` an in-memory LocalStore used for rate limits
  // when `store` cannot answer and on_store_error.rate_limits is `local` (may be the same
  // object as `store` when the store is local). Both outlive the guard. Alerts are logged at
  // warn and passed to `on_alert` when it is set.
  StoreGuard(boost::asio::any_io_executor executor, Store& store, Store& fallback, AlertHandler on_alert = {});

  // Admits `request` against the store; when the store cannot answer, applies `policy`:
  // budgets closed and the tenant has a budget -> unavailable (503); rate limits local ->
  // the fallback's buckets (no budget), open -> admitted, closed -> unavailable.
  boost::asio::awaitable<AdmitResult> admit(AdmitRequest request, const config::LimitsConfig& policy);

  // The tenant's current UTC day and month from the configured store (GET /v1/usage); an
  // error when the store cannot answer (no fallback: local buckets know nothing of spend).
  boost::asio::awaitable<Result<TenantUsage>> usage(std::string_view tenant) { return store_.usage(tenant); }

  // A snapshot; safe from any thread (the metrics scrape reads it from the admin worker).
  StoreErrorStats stats() const;
  // Settles still running in the background (a draining worker waits for zero).
  std::size_t pending() const { return pending_; }

 private:
  friend class Reservation;
  Reservation make_reservation(Store& store, const AdmitRequest& request, const Charge& taken);
  void spawn_settle(Store& store, std::string tenant, std::string request_id, config::Limits limits,
                    Settlement used);

  boost::asio::any_io_executor executor_;
  Store& store_;
  Store& fallback_;
  AlertHandler on_alert_;
  // Written only by this guard's worker, read by scrapes: relaxed atomics, never contended.
  struct Counters {
    std::atomic<std::uint64_t> rate_limits_local{0}, rate_limits_open{0}, rate_limits_closed{0};
    std::atomic<std::uint64_t> budgets_open{0}, budgets_closed{0};
  } counters_;
  std::size_t pending_ = 0;
};

}  // namespace tollgate::limits
