#include "tollgate/limits/redis_store.hpp"

#include <charconv>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "redis_store_lua.hpp"
#include "script_batches.hpp"

namespace tollgate::limits {

namespace asio = boost::asio;

namespace {

// The scripts and their SHA1s, computed once per process.
struct Scripts {
  redis::Script limits;  // admits and settles, batched
  redis::Script extend;
  redis::Script usage;
};

const Scripts& scripts() {
  static const Scripts instance{redis::Script::make("limits", lua::kLimits), redis::Script::make("extend", lua::kExtend),
                                redis::Script::make("usage", lua::kUsage)};
  return instance;
}

redis::ClientOptions client_options(RedisStoreOptions options) {
  auto address = redis::parse_redis_url(options.url);
  if (!address) throw std::invalid_argument("limits.redis.url: " + address.error().message);
  redis::ClientOptions out;
  out.address = std::move(*address);
  if (options.password) out.address.password = std::move(*options.password);
  out.timeout = options.timeout;
  const Scripts& s = scripts();
  out.scripts = {s.limits, s.extend, s.usage};
  return out;
}

// KEYS of every script (lua/common.lua): the tenant's leases, reservations and buckets.
std::vector<std::string> tenant_keys(std::string_view tenant) {
  std::vector<std::string> keys;
  keys.reserve(4);
  for (const std::string_view suffix : {"leases", "res", "bucket:requests", "bucket:tokens"}) {
    std::string& key = keys.emplace_back();
    key.reserve(tenant.size() + suffix.size() + 6);
    key.append("tg:{").append(tenant).append("}:").append(suffix);
  }
  return keys;
}

// An optional limit as a script argument: '' when absent.
std::string arg(const std::optional<std::int64_t>& value) { return value ? std::to_string(*value) : std::string(); }
std::string arg(const std::optional<NanoUsd>& value) { return value ? std::to_string(value->value) : std::string(); }

// The shortest decimal that reads back as the same double (Lua's tonumber is exact on it), so
// the script compares with the very fraction the config holds.
std::string arg(double value) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, value).ptr;
  return std::string(buffer, end);
}
std::string arg(const std::optional<double>& value) { return value ? arg(*value) : std::string(); }

Admission unavailable(std::string why) {
  Admission a;
  a.verdict = Verdict::unavailable;
  a.error = std::move(why);
  return a;
}

Failure store_failure(std::string why) { return fail(Error::limits_unavailable, std::move(why)); }

// Integers of an array reply, all of them or none.
std::optional<std::vector<std::int64_t>> integers(const redis::Reply& reply, std::size_t first, std::size_t count) {
  if (reply.type != redis::Reply::Type::array || reply.elements.size() < first + count) return std::nullopt;
  std::vector<std::int64_t> out;
  out.reserve(count);
  for (std::size_t i = first; i < first + count; ++i) {
    const auto value = reply.elements[i].as_integer();
    if (!value) return std::nullopt;
    out.push_back(*value);
  }
  return out;
}

std::optional<BucketStatus> bucket(std::int64_t limit, std::int64_t remaining, std::int64_t reset_ms) {
  if (limit < 0) return std::nullopt;
  return BucketStatus{limit, remaining, std::chrono::milliseconds(reset_ms)};
}

std::chrono::sys_seconds at(std::int64_t seconds) { return std::chrono::sys_seconds(std::chrono::seconds(seconds)); }

// An admit's answer from limits.lua (documented there).
Admission parse_admission(const redis::Reply& reply) {
  if (reply.is_error()) return unavailable("admit script failed: " + reply.text);
  if (reply.type == redis::Reply::Type::array && reply.elements.size() == 2) {
    // {0, downgraded}: admitted, no bucket to report.
    const auto short_form = integers(reply, 0, 2);
    if (!short_form || (*short_form)[0] != 0) return unavailable("admit script answered an unexpected reply");
    Admission a;
    a.verdict = Verdict::admitted;
    a.downgraded = (*short_form)[1] != 0;
    return a;
  }
  const auto head = integers(reply, 0, 9);
  const auto tail = integers(reply, 10, 4);
  if (!head || !tail || reply.elements.size() != 14 || reply.elements[9].type != redis::Reply::Type::string) {
    return unavailable("admit script answered an unexpected reply");
  }
  const auto& v = *head;
  Admission a;
  switch (v[0]) {
    case 0: a.verdict = Verdict::admitted; break;
    case 1: a.verdict = Verdict::rate_limited; break;
    case 2: a.verdict = Verdict::budget_exceeded; break;
    default: return unavailable("admit script answered an unknown verdict");
  }
  a.downgraded = v[1] != 0;
  a.requests = bucket(v[2], v[3], v[4]);
  a.tokens = bucket(v[5], v[6], v[7]);
  if (a.verdict == Verdict::rate_limited) {
    a.retry_after = std::chrono::seconds(v[8]);
    a.limit_name = reply.elements[9].text;
  }
  if (a.verdict == Verdict::budget_exceeded) {
    const auto& b = *tail;
    a.budget = BudgetRefusal{b[0] == 0 ? BudgetWindow::daily : BudgetWindow::monthly, NanoUsd{b[1]}, NanoUsd{b[2]},
                             at(b[3])};
  }
  return a;
}

Result<SettleResult> parse_settlement(const redis::Reply& reply, const config::Limits& limits) {
  if (reply.is_error()) return store_failure("settle script failed: " + reply.text);
  const std::size_t n = reply.type == redis::Reply::Type::array ? reply.elements.size() : 0;
  const auto values = integers(reply, 0, n);
  if (!values || n == 0 || (n - 1) % 3 != 0) return store_failure("settle script answered an unexpected reply");
  SettleResult result;
  result.settled = (*values)[0] != 0;
  for (std::size_t i = 1; i < n; i += 3) {
    const bool daily = (*values)[i] == 0;
    const auto& limit = daily ? limits.budget_daily : limits.budget_monthly;
    if (!limit) return store_failure("settle script raised an alert for a budget that is not set");
    result.alerts.push_back(BudgetAlert{daily ? BudgetWindow::daily : BudgetWindow::monthly, *limit,
                                        NanoUsd{(*values)[i + 1]}, limits.soft_alert_at, at((*values)[i + 2])});
  }
  return result;
}

Result<TenantUsage> parse_usage(const redis::Reply& reply) {
  if (reply.is_error()) return store_failure("usage script failed: " + reply.text);
  const auto v = integers(reply, 0, 12);
  if (!v || reply.elements.size() != 12) return store_failure("usage script answered an unexpected reply");
  const auto window = [&](std::size_t i) {
    return WindowUsage{at((*v)[i]), at((*v)[i + 1]), (*v)[i + 2], Tokens{(*v)[i + 3]}, Tokens{(*v)[i + 4]},
                       NanoUsd{(*v)[i + 5]}};
  };
  return TenantUsage{window(0), window(6)};
}

std::string millis(std::chrono::seconds ttl) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count());
}

}  // namespace

RedisStore::RedisStore(asio::any_io_executor executor, RedisStoreOptions options)
    : client_(std::make_unique<redis::Client>(std::move(executor), client_options(std::move(options)))),
      batches_(std::make_unique<ScriptBatches>(*client_, scripts().limits, &tenant_keys)) {}

RedisStore::~RedisStore() = default;

void RedisStore::start() { client_->start(); }
void RedisStore::stop() { client_->stop(); }
bool RedisStore::ready() const { return client_->ready(); }
redis::ClientStats RedisStore::stats() const { return client_->stats(); }
BatchStats RedisStore::batch_stats() const { return BatchStats{batches_->calls(), batches_->batches()}; }

asio::awaitable<Admission> RedisStore::admit(const AdmitRequest& request) {
  const config::Limits& l = request.limits;
  std::vector<std::string> args{"a",
                                request.request_id,
                                millis(request.reservation_ttl),
                                std::to_string(request.charge.tokens.value),
                                std::to_string(request.charge.cost.value),
                                request.downgraded ? std::to_string(request.downgraded->tokens.value) : "",
                                request.downgraded ? std::to_string(request.downgraded->cost.value) : "",
                                arg(l.requests_per_minute),
                                arg(l.requests_per_day),
                                arg(l.tokens_per_minute),
                                arg(l.max_concurrent),
                                arg(l.budget_daily),
                                arg(l.budget_monthly),
                                arg(l.downgrade_at)};
  auto reply = co_await batches_->call(request.tenant, std::move(args));
  if (!reply) co_return unavailable(std::move(reply.error().message));
  co_return parse_admission(*reply);
}

asio::awaitable<bool> RedisStore::extend(std::string_view tenant, std::string_view request_id,
                                         const config::Limits& limits, NanoUsd more,
                                         std::chrono::seconds reservation_ttl) {
  std::vector<std::string> args{std::string(request_id), std::to_string(more.value), millis(reservation_ttl),
                                arg(limits.budget_daily), arg(limits.budget_monthly)};
  auto keys = tenant_keys(tenant);
  auto reply = co_await client_->eval(scripts().extend, std::move(keys), std::move(args));
  if (!reply) co_return false;
  co_return reply->as_integer() == 1;
}

asio::awaitable<Result<SettleResult>> RedisStore::settle(std::string_view tenant, std::string_view request_id,
                                                         const config::Limits& limits, const Settlement& used) {
  std::vector<std::string> args{"s",
                                std::string(request_id),
                                std::to_string(used.input.value),
                                std::to_string(used.output.value),
                                std::to_string(used.cost.value),
                                arg(limits.tokens_per_minute),
                                arg(limits.budget_daily),
                                arg(limits.budget_monthly),
                                arg(limits.soft_alert_at)};
  auto reply = co_await batches_->call(tenant, std::move(args));
  if (!reply) co_return reply.error();
  co_return parse_settlement(*reply, limits);
}

asio::awaitable<Result<TenantUsage>> RedisStore::usage(std::string_view tenant) {
  auto keys = tenant_keys(tenant);
  auto reply = co_await client_->eval(scripts().usage, std::move(keys), {});
  if (!reply) co_return reply.error();
  co_return parse_usage(*reply);
}

}  // namespace tollgate::limits
