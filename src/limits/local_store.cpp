#include "tollgate/limits/local_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include "local_state.hpp"
#include "tollgate/core/log.hpp"

namespace tollgate::limits {
namespace {

using local::BucketState;
using local::Lease;
using local::TenantState;
using local::WindowState;

// Enough shards that workers rarely wait on each other; a power of two is not needed.
constexpr std::size_t kShards = 64;

// One reading of the clock, shared by every step of one call.
struct Now {
  std::chrono::system_clock::time_point at;
  std::int64_t ms = 0;  // since the Unix epoch
  WindowBounds day;
  WindowBounds month;
};

Now now_from(const Clock& clock) {
  const auto at = clock.now();
  return Now{at, std::chrono::floor<std::chrono::milliseconds>(at.time_since_epoch()).count(), day_window(at),
             month_window(at)};
}

// ---- token buckets (the exact arithmetic RedisStore's scripts use too) ----

// Refill per millisecond of a per-minute limit.
double rate_per_ms(std::int64_t limit) { return static_cast<double>(limit) / 60000.0; }

// Brings the bucket to `now`: full on first use, else refilled continuously up to capacity.
// A clock that went backwards refills nothing (rather than draining the bucket).
void touch(BucketState& bucket, std::int64_t capacity, std::int64_t now_ms) {
  if (!bucket.used) {
    bucket = BucketState{true, static_cast<double>(capacity), now_ms};
    return;
  }
  const std::int64_t elapsed = std::max<std::int64_t>(0, now_ms - bucket.ts_ms);
  bucket.level = std::min(static_cast<double>(capacity),
                          bucket.level + static_cast<double>(elapsed) * rate_per_ms(capacity));
  bucket.ts_ms = now_ms;
}

// Whole seconds until `shortfall` units have refilled, at least 1.
std::chrono::seconds wait_for(double shortfall, std::int64_t limit) {
  const double seconds = std::ceil(shortfall / rate_per_ms(limit) / 1000.0);
  return std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(seconds)));
}

BucketStatus status_of(const BucketState& bucket, std::int64_t capacity) {
  BucketStatus status;
  status.limit = capacity;
  status.remaining = std::max<std::int64_t>(0, static_cast<std::int64_t>(std::floor(bucket.level)));
  const double missing = std::max(0.0, static_cast<double>(capacity) - bucket.level);
  status.reset = std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(missing / rate_per_ms(capacity))));
  return status;
}

// ---- windows and leases ----

NanoUsd reserved_in_day(const TenantState& t, std::chrono::sys_seconds start) {
  NanoUsd sum;
  for (const auto& [id, lease] : t.leases) {
    if (lease.day_start == start) sum = sum + lease.cost;
  }
  return sum;
}

NanoUsd reserved_in_month(const TenantState& t, std::chrono::sys_seconds start) {
  NanoUsd sum;
  for (const auto& [id, lease] : t.leases) {
    if (lease.month_start == start) sum = sum + lease.cost;
  }
  return sum;
}

// Starts a fresh day or month when the calendar moved on. Leases admitted in an earlier window
// stay live (they hold a slot) but belong to that window, which is gone: what they settle is
// counted nowhere in the new one. Returns whether anything changed.
bool roll(TenantState& t, const Now& now) {
  bool changed = false;
  if (t.day.start != now.day.start) {
    t.day = WindowState{};
    t.day.start = now.day.start;
    t.day.reserved = reserved_in_day(t, now.day.start);
    changed = true;
  }
  if (t.month.start != now.month.start) {
    t.month = WindowState{};
    t.month.start = now.month.start;
    t.month.reserved = reserved_in_month(t, now.month.start);
    changed = true;
  }
  return changed;
}

// Replaces a lease's reservation by `cost` (and the tokens used) in the windows it belongs to
// that are still current.
void commit(TenantState& t, const Lease& lease, NanoUsd cost, Tokens input, Tokens output) {
  for (auto [window, start] : {std::pair{&t.day, lease.day_start}, std::pair{&t.month, lease.month_start}}) {
    if (window->start != start) continue;
    window->reserved = window->reserved - lease.cost;
    window->spent = window->spent + cost;
    window->input = window->input + input;
    window->output = window->output + output;
  }
}

// A lease nobody settled: its whole reservation becomes spent (a lost settle never creates
// budget); its tokens stay taken.
void charge_in_full(TenantState& t, const Lease& lease) { commit(t, lease, lease.cost, Tokens{}, Tokens{}); }

// Charges and drops every lease whose time is up. Returns whether any was.
bool reap(TenantState& t, const Now& now) {
  if (t.leases.empty() || now.ms < t.earliest_expiry_ms) return false;
  bool changed = false;
  std::int64_t earliest = std::numeric_limits<std::int64_t>::max();
  for (auto it = t.leases.begin(); it != t.leases.end();) {
    if (it->second.expires_ms <= now.ms) {
      charge_in_full(t, it->second);
      it = t.leases.erase(it);
      changed = true;
    } else {
      earliest = std::min(earliest, it->second.expires_ms);
      ++it;
    }
  }
  t.earliest_expiry_ms = earliest;
  return changed;
}

void add_lease(TenantState& t, std::string_view id, const Lease& lease) {
  t.earliest_expiry_ms = t.leases.empty() ? lease.expires_ms : std::min(t.earliest_expiry_ms, lease.expires_ms);
  t.leases.emplace(std::string(id), lease);
}

// ---- admission ----

// (spent + reserved) / limit >= fraction, for a budget that is set.
bool at_least(const WindowState& w, const std::optional<NanoUsd>& limit, double fraction) {
  return limit && static_cast<double>((w.spent + w.reserved).value) >= fraction * static_cast<double>(limit->value);
}

std::optional<BudgetRefusal> budget_refusal(const TenantState& t, const config::Limits& limits, NanoUsd cost,
                                            const Now& now) {
  const auto refusal = [&](BudgetWindow window, const WindowState& w, NanoUsd limit,
                           const WindowBounds& bounds) -> std::optional<BudgetRefusal> {
    if (w.spent + w.reserved + cost <= limit) return std::nullopt;
    return BudgetRefusal{window, limit, w.spent + w.reserved, bounds.resets_at};
  };
  // The daily window is reported when both are short: it is the one that reopens first.
  if (limits.budget_daily) {
    if (auto r = refusal(BudgetWindow::daily, t.day, *limits.budget_daily, now.day)) return r;
  }
  if (limits.budget_monthly) {
    if (auto r = refusal(BudgetWindow::monthly, t.month, *limits.budget_monthly, now.month)) return r;
  }
  return std::nullopt;
}

struct RateRefusal {
  std::chrono::seconds retry_after;
  std::string_view limit_name;
};

// The rate limit that keeps `charge` out the longest, if any.
std::optional<RateRefusal> rate_refusal(const TenantState& t, const config::Limits& limits, const Charge& charge,
                                        const Now& now) {
  std::optional<RateRefusal> worst;
  const auto refuse = [&](std::chrono::seconds wait, std::string_view name) {
    if (!worst || wait > worst->retry_after) worst = RateRefusal{wait, name};
  };
  if (limits.requests_per_minute && t.requests.level < 1.0) {
    refuse(wait_for(1.0 - t.requests.level, *limits.requests_per_minute), "requests_per_minute");
  }
  if (limits.requests_per_day && t.day.requests >= *limits.requests_per_day) {
    const auto until_tomorrow = std::chrono::ceil<std::chrono::seconds>(now.day.resets_at - now.at);
    refuse(std::max(until_tomorrow, std::chrono::seconds(1)), "requests_per_day");
  }
  if (limits.tokens_per_minute) {
    const auto needed = static_cast<double>(charge.tokens.value);
    if (charge.tokens.value > *limits.tokens_per_minute) {
      // Never fits, however long the client waits; a minute is the honest upper bound of
      // what waiting could change (a later request may be smaller).
      refuse(std::chrono::seconds(60), "tokens_per_minute");
    } else if (t.tokens.level < needed) {
      refuse(wait_for(needed - t.tokens.level, *limits.tokens_per_minute), "tokens_per_minute");
    }
  }
  if (limits.max_concurrent && static_cast<std::int64_t>(t.leases.size()) >= *limits.max_concurrent) {
    refuse(std::chrono::seconds(1), "max_concurrent");
  }
  return worst;
}

void fill_statuses(Admission& a, const TenantState& t, const config::Limits& limits) {
  if (limits.requests_per_minute) a.requests = status_of(t.requests, *limits.requests_per_minute);
  if (limits.tokens_per_minute) a.tokens = status_of(t.tokens, *limits.tokens_per_minute);
}

// Admission for a tenant whose state is `t` (shard lock held). Sets `changed` when the state
// must be persisted.
Admission decide(TenantState& t, const AdmitRequest& request, const Now& now, bool& changed) {
  const config::Limits& limits = request.limits;
  changed = roll(t, now);
  changed = reap(t, now) || changed;
  // Refilling is the same continuous function whether or not anything is taken below.
  if (limits.requests_per_minute) touch(t.requests, *limits.requests_per_minute, now.ms);
  if (limits.tokens_per_minute) touch(t.tokens, *limits.tokens_per_minute, now.ms);

  Admission a;
  if (const auto live = t.leases.find(request.request_id); live != t.leases.end()) {
    a.verdict = Verdict::admitted;  // idempotent: a retry of a live admission takes nothing
    a.downgraded = live->second.downgraded;
    fill_statuses(a, t, limits);
    return a;
  }

  const bool downgrade = request.downgraded && limits.downgrade_at &&
                         (at_least(t.day, limits.budget_daily, *limits.downgrade_at) ||
                          at_least(t.month, limits.budget_monthly, *limits.downgrade_at));
  const Charge charge = downgrade ? *request.downgraded : request.charge;

  // Everything is checked before anything is taken; a budget (402) outranks a rate limit (429).
  if (auto refusal = budget_refusal(t, limits, charge.cost, now)) {
    a.verdict = Verdict::budget_exceeded;
    a.budget = *refusal;
  } else if (auto refusal = rate_refusal(t, limits, charge, now)) {
    a.verdict = Verdict::rate_limited;
    a.retry_after = refusal->retry_after;
    a.limit_name = std::string(refusal->limit_name);
  } else {
    if (limits.requests_per_minute) t.requests.level -= 1.0;
    if (limits.tokens_per_minute) t.tokens.level -= static_cast<double>(charge.tokens.value);
    for (WindowState* w : {&t.day, &t.month}) {
      ++w->requests;
      w->reserved = w->reserved + charge.cost;
    }
    const auto ttl = std::chrono::duration_cast<std::chrono::milliseconds>(request.reservation_ttl).count();
    add_lease(t, request.request_id,
              Lease{charge.tokens, charge.cost, now.ms + ttl, now.day.start, now.month.start, downgrade});
    a.verdict = Verdict::admitted;
    a.downgraded = downgrade;
    changed = true;
  }
  fill_statuses(a, t, limits);
  return a;
}

bool grow(TenantState& t, std::string_view request_id, const config::Limits& limits, NanoUsd more,
          std::chrono::seconds ttl, const Now& now) {
  const auto it = t.leases.find(request_id);
  if (it == t.leases.end() || more < NanoUsd{}) return false;
  Lease& lease = it->second;
  // Only the windows the lease belongs to (and that are still current) are charged.
  const auto fits = [&](const WindowState& w, std::chrono::sys_seconds start, const std::optional<NanoUsd>& limit) {
    return !limit || w.start != start || w.spent + w.reserved + more <= *limit;
  };
  if (!fits(t.day, lease.day_start, limits.budget_daily) || !fits(t.month, lease.month_start, limits.budget_monthly)) {
    return false;
  }
  lease.cost = lease.cost + more;
  if (t.day.start == lease.day_start) t.day.reserved = t.day.reserved + more;
  if (t.month.start == lease.month_start) t.month.reserved = t.month.reserved + more;
  lease.expires_ms = now.ms + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
  t.earliest_expiry_ms = std::min(t.earliest_expiry_ms, lease.expires_ms);
  return true;
}

SettleResult settle_lease(TenantState& t, std::string_view request_id, const config::Limits& limits,
                          const Settlement& used, const Now& now) {
  const auto it = t.leases.find(request_id);
  if (it == t.leases.end()) return {};
  const Lease lease = it->second;
  t.leases.erase(it);
  commit(t, lease, used.cost, used.input, used.output);
  if (limits.tokens_per_minute) {
    const auto capacity = *limits.tokens_per_minute;
    touch(t.tokens, capacity, now.ms);
    const auto unused = lease.tokens - (used.input + used.output);  // negative: used more
    t.tokens.level = std::min(static_cast<double>(capacity), t.tokens.level + static_cast<double>(unused.value));
  }

  SettleResult result;
  result.settled = true;
  const auto alert = [&](BudgetWindow window, WindowState& w, const std::optional<NanoUsd>& limit) {
    if (!limit || w.alerted) return;
    if (static_cast<double>(w.spent.value) < limits.soft_alert_at * static_cast<double>(limit->value)) return;
    w.alerted = true;
    result.alerts.push_back(BudgetAlert{window, *limit, w.spent, limits.soft_alert_at, w.start});
  };
  alert(BudgetWindow::daily, t.day, limits.budget_daily);
  alert(BudgetWindow::monthly, t.month, limits.budget_monthly);
  return result;
}

WindowUsage usage_of(const WindowState& w, const WindowBounds& bounds) {
  return WindowUsage{bounds.start, bounds.resets_at, w.requests, w.input, w.output, w.spent};
}

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const noexcept { return std::hash<std::string_view>{}(name); }
};

struct Shard {
  std::mutex mutex;
  std::unordered_map<std::string, TenantState, NameHash, std::equal_to<>> tenants;  // guarded by mutex
};

Failure state_failure(const std::string& what, const std::string& path, int error) {
  return fail(Error::limits_unavailable, what + " '" + path + "': " + std::generic_category().message(error));
}

}  // namespace

struct LocalStore::Impl {
  Impl(const Clock& c, LocalStoreOptions o) : clock(c), options(std::move(o)) {}

  Shard& shard_of(std::string_view tenant) { return shards[NameHash{}(tenant) % kShards]; }

  Result<void> load();
  Result<void> flush();
  void run_flusher();
  void stop_flusher();

  const Clock& clock;
  const LocalStoreOptions options;
  std::array<Shard, kShards> shards;
  // Bumped by every call that changed something; the flusher writes when it moved.
  std::atomic<std::uint64_t> changes{0};
  std::atomic<std::uint64_t> flush_failures{0};

  std::mutex flush_mutex;       // one writer of the state file at a time
  std::uint64_t flushed = 0;    // `changes` at the last successful write; guarded by flush_mutex
  int lock_fd = -1;             // holds the flock on state_dir/limits.lock

  std::mutex flusher_mutex;
  std::condition_variable flusher_wake;
  bool stopping = false;  // guarded by flusher_mutex
  std::thread flusher;
};

Result<void> LocalStore::Impl::load() {
  const std::string& dir = options.state_dir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Error::limits_unavailable, "cannot create limits state_dir '" + dir + "': " + ec.message());

  // Two processes writing one state file would each overwrite the other's spend.
  const std::string lock_path = dir + "/" + std::string(local::kLockFileName);
  lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return state_failure("cannot open limits lock file", lock_path, errno);
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return fail(Error::limits_unavailable,
                  "limits state_dir '" + dir + "' is in use by another process (" + lock_path + " is locked)");
    }
    return state_failure("cannot lock limits lock file", lock_path, errno);
  }

  // A temp file is a write that never reached its rename: the state file is still the truth.
  const std::string temp = dir + "/" + std::string(local::kTempFileName);
  if (::unlink(temp.c_str()) != 0 && errno != ENOENT) {
    return state_failure("cannot remove stale limits temp file", temp, errno);
  }

  const std::string path = dir + "/" + std::string(local::kStateFileName);
  auto text = local::read_file(path);
  if (!text) return text.error();
  if (!*text) return {};
  auto tenants = local::parse_state(**text, path);
  if (!tenants) return tenants.error();

  bool charged = false;
  for (auto& [name, state] : *tenants) {
    // Whoever could have settled these leases is gone.
    for (const auto& [id, lease] : state.leases) charge_in_full(state, lease);
    charged = charged || !state.leases.empty();
    state.leases.clear();
    Shard& shard = shard_of(name);
    shard.tenants.emplace(std::move(name), std::move(state));
  }
  if (charged) changes.fetch_add(1);
  return {};
}

Result<void> LocalStore::Impl::flush() {
  if (options.state_dir.empty()) return {};
  std::lock_guard guard(flush_mutex);
  const std::uint64_t generation = changes.load();
  if (generation == flushed) return {};
  std::string text = local::format_header();
  std::size_t count = 0;
  for (Shard& shard : shards) {
    std::lock_guard lock(shard.mutex);
    for (const auto& [name, state] : shard.tenants) local::format_tenant(text, name, state);
    count += shard.tenants.size();
  }
  local::format_trailer(text, count);
  auto written = local::replace_state_file(options.state_dir, text);
  if (!written) return written;
  flushed = generation;
  return {};
}

void LocalStore::Impl::run_flusher() {
  std::unique_lock lock(flusher_mutex);
  while (!flusher_wake.wait_for(lock, options.flush_interval, [this] { return stopping; })) {
    lock.unlock();
    if (auto written = flush(); !written) {
      flush_failures.fetch_add(1);
      log::warn("limits state write failed; retrying", {{"error", written.error().message}});
    }
    lock.lock();
  }
}

void LocalStore::Impl::stop_flusher() {
  if (!flusher.joinable()) return;
  {
    std::lock_guard lock(flusher_mutex);
    stopping = true;
  }
  flusher_wake.notify_all();
  flusher.join();
}

Result<std::unique_ptr<LocalStore>> LocalStore::open(const Clock& clock, LocalStoreOptions options) {
  auto impl = std::make_unique<Impl>(clock, std::move(options));
  if (!impl->options.state_dir.empty()) {
    if (auto loaded = impl->load(); !loaded) {
      if (impl->lock_fd >= 0) ::close(impl->lock_fd);
      return loaded.error();
    }
    impl->flusher = std::thread([raw = impl.get()] { raw->run_flusher(); });
  }
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(impl)));
}

LocalStore::LocalStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LocalStore::~LocalStore() {
  impl_->stop_flusher();
  if (auto written = impl_->flush(); !written) {
    log::warn("limits state write at shutdown failed", {{"error", written.error().message}});
  }
  if (impl_->lock_fd >= 0) ::close(impl_->lock_fd);
}

Result<void> LocalStore::flush() { return impl_->flush(); }

std::uint64_t LocalStore::flush_failures() const { return impl_->flush_failures.load(); }

boost::asio::awaitable<Admission> LocalStore::admit(const AdmitRequest& request) {
  const Now now = now_from(impl_->clock);
  Shard& shard = impl_->shard_of(request.tenant);
  bool changed = false;
  Admission admission;
  {
    std::lock_guard lock(shard.mutex);
    auto it = shard.tenants.find(request.tenant);
    if (it == shard.tenants.end()) it = shard.tenants.emplace(request.tenant, TenantState{}).first;
    admission = decide(it->second, request, now, changed);
  }
  if (changed) impl_->changes.fetch_add(1);
  co_return admission;
}

boost::asio::awaitable<bool> LocalStore::extend(std::string_view tenant, std::string_view request_id,
                                                const config::Limits& limits, NanoUsd more,
                                                std::chrono::seconds reservation_ttl) {
  const Now now = now_from(impl_->clock);
  Shard& shard = impl_->shard_of(tenant);
  bool changed = false;
  bool extended = false;
  {
    std::lock_guard lock(shard.mutex);
    if (const auto it = shard.tenants.find(tenant); it != shard.tenants.end()) {
      changed = roll(it->second, now);
      changed = reap(it->second, now) || changed;
      extended = grow(it->second, request_id, limits, more, reservation_ttl, now);
    }
  }
  if (changed || extended) impl_->changes.fetch_add(1);
  co_return extended;
}

boost::asio::awaitable<Result<SettleResult>> LocalStore::settle(std::string_view tenant, std::string_view request_id,
                                                                const config::Limits& limits,
                                                                const Settlement& used) {
  co_return *settle_now(tenant, request_id, limits, used);
}

std::optional<Result<SettleResult>> LocalStore::settle_now(std::string_view tenant, std::string_view request_id,
                                                           const config::Limits& limits, const Settlement& used) {
  const Now now = now_from(impl_->clock);
  Shard& shard = impl_->shard_of(tenant);
  bool changed = false;
  SettleResult result;
  {
    std::lock_guard lock(shard.mutex);
    if (const auto it = shard.tenants.find(tenant); it != shard.tenants.end()) {
      // No reaping here: a settle that arrives before anyone reaped its expired lease still
      // records what the request really used.
      changed = roll(it->second, now);
      result = settle_lease(it->second, request_id, limits, used, now);
    }
  }
  if (changed || result.settled) impl_->changes.fetch_add(1);
  return Result<SettleResult>{std::move(result)};
}

boost::asio::awaitable<Result<TenantUsage>> LocalStore::usage(std::string_view tenant) {
  const Now now = now_from(impl_->clock);
  Shard& shard = impl_->shard_of(tenant);
  bool changed = false;
  TenantUsage usage{usage_of(WindowState{}, now.day), usage_of(WindowState{}, now.month)};
  {
    std::lock_guard lock(shard.mutex);
    if (const auto it = shard.tenants.find(tenant); it != shard.tenants.end()) {
      changed = roll(it->second, now);
      changed = reap(it->second, now) || changed;
      usage = TenantUsage{usage_of(it->second.day, now.day), usage_of(it->second.month, now.month)};
    }
  }
  if (changed) impl_->changes.fetch_add(1);
  co_return usage;
}

}  // namespace tollgate::limits
