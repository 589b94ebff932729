#include "tollgate/limits/store_guard.hpp"

#include <utility>

#include <boost/asio/co_spawn.hpp>

#include "tollgate/core/log.hpp"

namespace tollgate::limits {

namespace asio = boost::asio;

namespace {

bool has_budget(const config::Limits& limits) { return limits.budget_daily || limits.budget_monthly; }

bool has_rate_limit(const config::Limits& limits) {
  return limits.requests_per_minute || limits.requests_per_day || limits.tokens_per_minute || limits.max_concurrent;
}

Admission admitted_without_store() {
  Admission admission;
  admission.verdict = Verdict::admitted;
  return admission;
}

Admission unavailable(std::string why) {
  Admission admission;
  admission.verdict = Verdict::unavailable;
  admission.error = std::move(why);
  return admission;
}

void log_alert(std::string_view tenant, const BudgetAlert& alert) {
  log::warn("budget alert", {{"tenant", std::string(tenant)},
                             {"window", std::string(window_name(alert.window))},
                             {"threshold", std::to_string(alert.threshold)},
                             {"spent_usd", format_usd(alert.spent)},
                             {"limit_usd", format_usd(alert.limit)}});
}

// What a settle's result leads to: a warning when it failed, the budget alerts it raised.
void settled(const Result<SettleResult>& result, std::string_view tenant, std::string_view request_id,
             const AlertHandler& on_alert) {
  if (!result) {
    // The reservation stays until its lease expires and is then charged in full.
    log::warn("settle failed; the reservation will be charged in full when its lease expires",
              {{"tenant", tenant}, {"request_id", request_id}, {"error", result.error().message}});
    return;
  }
  for (const auto& alert : result->alerts) {
    log_alert(tenant, alert);
    if (on_alert) on_alert(tenant, alert);
  }
}

// Runs one settle to completion; a coroutine of its own so the request need not wait for it.
// `on_alert` belongs to the guard, which outlives every settle it spawned.
asio::awaitable<void> settle_in_background(Store& store, std::string tenant, std::string request_id,
                                           config::Limits limits, Settlement used, const AlertHandler* on_alert) {
  const auto result = co_await store.settle(tenant, request_id, limits, used);
  settled(result, tenant, request_id, *on_alert);
}

}  // namespace

Reservation::Reservation(Reservation&& other) noexcept
    : guard_(std::exchange(other.guard_, nullptr)),
      store_(std::exchange(other.store_, nullptr)),
      tenant_(std::move(other.tenant_)),
      request_id_(std::move(other.request_id_)),
      limits_(std::move(other.limits_)),
      ttl_(other.ttl_),
      cost_(other.cost_),
      tokens_(other.tokens_) {}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this == &other) return *this;
  settle_in_full();
  guard_ = std::exchange(other.guard_, nullptr);
  store_ = std::exchange(other.store_, nullptr);
  tenant_ = std::move(other.tenant_);
  request_id_ = std::move(other.request_id_);
  limits_ = std::move(other.limits_);
  ttl_ = other.ttl_;
  cost_ = other.cost_;
  tokens_ = other.tokens_;
  return *this;
}

Reservation::~Reservation() { settle_in_full(); }

// Dropped unsettled: charge it in full rather than let it create budget.
void Reservation::settle_in_full() {
  if (guard_ != nullptr) settle(Settlement{tokens_, Tokens{0}, cost_});
}

void Reservation::settle(const Settlement& used) {
  if (guard_ == nullptr) return;
  StoreGuard* guard = std::exchange(guard_, nullptr);
  guard->spawn_settle(*store_, std::move(tenant_), std::move(request_id_), std::move(limits_), used);
}

asio::awaitable<bool> Reservation::extend(NanoUsd more) {
  if (guard_ == nullptr) co_return true;  // admitted without a store: nothing to grow
  const bool ok = co_await store_->extend(tenant_, request_id_, limits_, more, ttl_);
  if (ok) cost_ = cost_ + more;
  co_return ok;
}

StoreErrorStats StoreGuard::stats() const {
  const auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  return StoreErrorStats{get(counters_.rate_limits_local), get(counters_.rate_limits_open),
                         get(counters_.rate_limits_closed), get(counters_.budgets_open),
                         get(counters_.budgets_closed)};
}

StoreGuard::StoreGuard(asio::any_io_executor executor, Store& store, Store& fallback, AlertHandler on_alert)
    : executor_(std::move(executor)), store_(store), fallback_(fallback), on_alert_(std::move(on_alert)) {}

Reservation StoreGuard::make_reservation(Store& store, const AdmitRequest& request, const Charge& taken) {
  Reservation reservation;
  reservation.guard_ = this;
  reservation.store_ = &store;
  reservation.tenant_ = request.tenant;
  reservation.request_id_ = request.request_id;
  reservation.limits_ = request.limits;
  reservation.ttl_ = request.reservation_ttl;
  reservation.cost_ = taken.cost;
  reservation.tokens_ = taken.tokens;
  return reservation;
}

void StoreGuard::spawn_settle(Store& store, std::string tenant, std::string request_id, config::Limits limits,
                              Settlement used) {
  // A store that never waits settles here: no coroutine, no trip through the event loop.
  if (const auto done = store.settle_now(tenant, request_id, limits, used)) {
    settled(*done, tenant, request_id, on_alert_);
    return;
  }
  ++pending_;
  asio::co_spawn(executor_,
                 settle_in_background(store, std::move(tenant), std::move(request_id), std::move(limits), used,
                                      &on_alert_),
                 [this](std::exception_ptr error) {
                   --pending_;
                   if (error) log::error("settle coroutine failed");
                 });
}

asio::awaitable<AdmitResult> StoreGuard::admit(AdmitRequest request, const config::LimitsConfig& policy) {
  AdmitResult result;
  result.admission = co_await store_.admit(request);
  if (result.admission.verdict != Verdict::unavailable) {
    if (result.admission.verdict == Verdict::admitted) {
      const Charge& taken =
          result.admission.downgraded && request.downgraded ? *request.downgraded : request.charge;
      result.reservation = make_reservation(store_, request, taken);
    }
    co_return result;
  }

  const std::string why = result.admission.error;
  log::warn("limits store unavailable", {{"tenant", request.tenant}, {"error", why}});
  if (has_budget(request.limits)) {
    if (policy.on_store_error_budgets == config::BudgetFallback::closed) {
      counters_.budgets_closed.fetch_add(1, std::memory_order_relaxed);
      result.admission = unavailable(why);
      co_return result;
    }
    counters_.budgets_open.fetch_add(1, std::memory_order_relaxed);
  }
  if (!has_rate_limit(request.limits)) {
    result.admission = admitted_without_store();
    result.reservation.emplace();
    co_return result;
  }
  switch (policy.on_store_error_rate_limits) {
    case config::RateLimitFallback::open:
      counters_.rate_limits_open.fetch_add(1, std::memory_order_relaxed);
      result.admission = admitted_without_store();
      result.reservation.emplace();
      co_return result;
    case config::RateLimitFallback::closed:
      counters_.rate_limits_closed.fetch_add(1, std::memory_order_relaxed);
      result.admission = unavailable(why);
      co_return result;
    case config::RateLimitFallback::local:
      break;
  }
  counters_.rate_limits_local.fetch_add(1, std::memory_order_relaxed);
  AdmitRequest local = request;
  local.limits.budget_daily.reset();
  local.limits.budget_monthly.reset();
  local.downgraded.reset();
  result.admission = co_await fallback_.admit(local);
  if (result.admission.verdict == Verdict::admitted) {
    result.reservation = make_reservation(fallback_, local, local.charge);
  }
  co_return result;
}

}  // namespace tollgate::limits
