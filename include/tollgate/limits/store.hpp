#pragma once
// Admission state behind one interface: token buckets, calendar windows, concurrency leases,
// budgets and reservations (SPEC section 5). Two implementations keep the same semantics and
// pass the same behavioural suite: LocalStore (in-process, persisted) and RedisStore (shared by
// every gateway). The limits themselves come from the caller's config snapshot on every call,
// so a reload never needs to touch a store.
//
// Semantics, identical in both stores (`now` is the store's clock: the injected Clock locally,
// Redis TIME in the scripts):
//   - requests_per_minute / tokens_per_minute: token buckets, capacity = the limit, refilled
//     continuously at limit/60 s, starting full. Admission takes 1 request and `charge.tokens`
//     tokens. Settle returns unused tokens (reserved - actual input - actual output) to the
//     tokens bucket, never above capacity; actual use beyond the reservation is taken from it
//     (the level may go negative: the tenant waits longer).
//   - requests_per_day: admitted requests in the current UTC day < the limit.
//   - max_concurrent: live reservations (each one is a lease that expires at admit time +
//     reservation_ttl) < the limit.
//   - budgets (daily, monthly; UTC calendar windows): a window's spent + reserved + charge.cost
//     must be <= its limit. A reservation belongs to the windows current at admission; settle
//     moves it from reserved to spent (with the actual cost) in those same windows.
//   - all of the above are checked first and taken together, or none is (all or nothing).
//   - a reservation that outlives its lease is reaped on the tenant's next admit (or usage
//     read) and charged in full (its reserved cost becomes spent, its slot is freed); a late
//     settle for it changes nothing.
//   - admit is idempotent per request id: a second admit of a live reservation answers
//     `admitted` again (with the `downgraded` of the first answer) and takes nothing more.
//   - refusal order when several limits refuse: budget (402) before rate limits (429);
//     among rate limits the longest Retry-After is reported.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"
#include "tollgate/core/money.hpp"

namespace tollgate::limits {

// What one request takes from its tenant when admitted: its tokens_per_minute share
// (prompt bound + completion allowance) and its worst-case cost.
struct Charge {
  Tokens tokens;
  NanoUsd cost;
  friend bool operator==(const Charge&, const Charge&) = default;
};

struct AdmitRequest {
  std::string tenant;
  std::string request_id;
  config::Limits limits;  // the tenant's limits in the caller's snapshot
  Charge charge;
  // The charge of the plan's downgrade target, when the requested model has one. The store
  // admits this charge instead (and answers downgraded = true) when, before this request,
  // the daily or monthly budget's (spent + reserved) / limit is >= limits.downgrade_at.
  std::optional<Charge> downgraded;
  std::chrono::seconds reservation_ttl{600};
};

enum class Verdict {
  admitted,
  rate_limited,     // 429
  budget_exceeded,  // 402
  unavailable,      // the store could not answer (timeout, connection, script error)
};

enum class BudgetWindow { daily, monthly };
std::string_view window_name(BudgetWindow window);  // "daily" | "monthly"

// One per-minute bucket for OpenAI's x-ratelimit-* headers, after this admission (on a
// refusal: as it stands, nothing taken).
struct BucketStatus {
  std::int64_t limit = 0;
  std::int64_t remaining = 0;                // whole units, floor, >= 0
  std::chrono::milliseconds reset{0};        // until the bucket is full again
};

struct BudgetRefusal {
  BudgetWindow window = BudgetWindow::daily;  // daily when both windows are short
  NanoUsd limit;
  NanoUsd spent;                              // committed + reserved in that window
  std::chrono::sys_seconds resets_at;         // end of the window (UTC)
};

struct Admission {
  Verdict verdict = Verdict::unavailable;
  bool downgraded = false;                    // the `downgraded` charge was taken
  std::optional<BucketStatus> requests;       // set when requests_per_minute is limited
  std::optional<BucketStatus> tokens;         // set when tokens_per_minute is limited
  // rate_limited: whole seconds until this request would be admitted, >= 1, and which limit
  // refused ("requests_per_minute", "requests_per_day", "tokens_per_minute", "max_concurrent").
  std::chrono::seconds retry_after{0};
  std::string limit_name;
  std::optional<BudgetRefusal> budget;        // budget_exceeded
  std::string error;                          // unavailable: why (never a secret), for logs
};

// What the request really used, replacing its reservation.
struct Settlement {
  Tokens input;
  Tokens output;
  NanoUsd cost;
};

// A tenant's committed spend crossed limits.soft_alert_at of a budget in the current window.
// Raised by exactly one settle per window and budget, however many gateways share the store.
struct BudgetAlert {
  BudgetWindow window = BudgetWindow::daily;
  NanoUsd limit;
  NanoUsd spent;
  double threshold = 0.8;
  std::chrono::sys_seconds window_start;
};

struct SettleResult {
  bool settled = false;  // false: no such reservation (already settled, or reaped)
  std::vector<BudgetAlert> alerts;
};

struct WindowUsage {
  std::chrono::sys_seconds start;
  std::chrono::sys_seconds resets_at;
  std::int64_t requests = 0;  // admitted requests
  Tokens input;               // settled
  Tokens output;              // settled
  NanoUsd spent;              // settled, plus reaped reservations
};

struct TenantUsage {
  WindowUsage daily;
  WindowUsage monthly;
};

class Store {
 public:
  virtual ~Store() = default;

  // Reserves everything `request` needs in one atomic step, or nothing. Never throws for
  // store trouble: that is Verdict::unavailable.
  virtual boost::asio::awaitable<Admission> admit(const AdmitRequest& request) = 0;

  // Adds `more` to a live reservation's cost (a stream outgrowing its reservation) if every
  // budget still fits it; false when it does not fit, the reservation is gone, or the store
  // cannot answer. Also renews the lease.
  virtual boost::asio::awaitable<bool> extend(std::string_view tenant, std::string_view request_id,
                                              const config::Limits& limits, NanoUsd more,
                                              std::chrono::seconds reservation_ttl) = 0;

  // Replaces the reservation by what was used, refunds the rest, frees the slot.
  virtual boost::asio::awaitable<Result<SettleResult>> settle(std::string_view tenant, std::string_view request_id,
                                                              const config::Limits& limits,
                                                              const Settlement& used) = 0;

  // settle() done at once by a store that never waits (the local store), so the caller needs
  // no coroutine of its own for it; nullopt from a store that must wait (Redis): use settle().
  virtual std::optional<Result<SettleResult>> settle_now(std::string_view tenant, std::string_view request_id,
                                                         const config::Limits& limits, const Settlement& used) {
    (void)tenant;
    (void)request_id;
    (void)limits;
    (void)used;
    return std::nullopt;
  }

  // The tenant's current UTC day and month (GET /v1/usage).
  virtual boost::asio::awaitable<Result<TenantUsage>> usage(std::string_view tenant) = 0;
};

// UTC calendar windows containing `now`: [start, resets_at).
struct WindowBounds {
  std::chrono::sys_seconds start;
  std::chrono::sys_seconds resets_at;
};
WindowBounds day_window(std::chrono::system_clock::time_point now);
WindowBounds month_window(std::chrono::system_clock::time_point now);

}  // namespace tollgate::limits
