// RedisStore against a real redis-server, beyond the shared behaviour suite: the key layout
// (hash tags, TTLs), leases of a vanished gateway, outages, two gateways on one budget, the
// scripts' calendar arithmetic, and the admit round trip.
#include "tollgate/limits/redis_store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>

#include "io_driver.hpp"
#include "redis_server.hpp"
#include "redis_store_lua.hpp"
#include "tollgate/redis/client.hpp"

namespace tollgate::limits {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tollgate::testing::RedisServer;
using Steady = std::chrono::steady_clock;

using tollgate::testing::run;
using tollgate::testing::run_until;

AdmitRequest request(std::string tenant, std::string id, config::Limits limits, std::int64_t tokens,
                     std::int64_t cost, std::chrono::seconds ttl = 600s) {
  AdmitRequest r;
  r.tenant = std::move(tenant);
  r.request_id = std::move(id);
  r.limits = limits;
  r.charge = Charge{Tokens{tokens}, NanoUsd{cost}};
  r.reservation_ttl = ttl;
  return r;
}

class RedisStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<RedisStore> open(std::chrono::milliseconds timeout = 1000ms) {
    auto store = std::make_unique<RedisStore>(io.get_executor(), RedisStoreOptions{server.url(), timeout, std::nullopt});
    store->start();
    EXPECT_TRUE(run_until(io, [&] { return store->ready(); }, 5s));
    return store;
  }

  Admission admit(RedisStore& store, const AdmitRequest& r) { return run(io, store.admit(r)); }

  RedisServer server;
  asio::io_context io;
};

TEST_F(RedisStoreTest, EveryKeyIsHashTaggedPerTenantAndExpires) {
  auto store = open();
  config::Limits limits;
  limits.requests_per_minute = 100;
  limits.tokens_per_minute = 10000;
  limits.requests_per_day = 1000;
  limits.max_concurrent = 10;
  limits.budget_daily = NanoUsd{1'000'000};
  limits.budget_monthly = NanoUsd{10'000'000};
  limits.soft_alert_at = 0.1;
  for (const std::string tenant : {"acme", "globex"}) {
    ASSERT_EQ(admit(*store, request(tenant, "done", limits, 100, 200'000)).verdict, Verdict::admitted);
    ASSERT_TRUE(run(io, store->extend(tenant, "done", limits, NanoUsd{1000}, 600s)));
    auto settled = run(io, store->settle(tenant, "done", limits, Settlement{Tokens{10}, Tokens{20}, NanoUsd{150'000}}));
    ASSERT_TRUE(settled && settled->settled);
    EXPECT_EQ(settled->alerts.size(), 1u);  // 150000 >= 0.1 x 1000000
    ASSERT_EQ(admit(*store, request(tenant, "live", limits, 100, 1000)).verdict, Verdict::admitted);
    ASSERT_TRUE(run(io, store->usage(tenant)));
  }

  const auto keys = server.keys();
  std::vector<std::string> suffixes;
  for (const auto& key : keys) {
    const bool acme = key.starts_with("tg:{acme}:");
    const bool globex = key.starts_with("tg:{globex}:");
    EXPECT_TRUE(acme || globex) << key;
    const auto ttl = server.command({"PTTL", key});
    EXPECT_GT(ttl.integer, 0) << key << " has no TTL";
    if (acme) suffixes.push_back(key.substr(std::string("tg:{acme}:").size()));
  }
  std::sort(suffixes.begin(), suffixes.end());
  ASSERT_EQ(suffixes.size(), 6u);
  EXPECT_EQ(suffixes[0], "bucket:requests");
  EXPECT_EQ(suffixes[1], "bucket:tokens");
  EXPECT_TRUE(suffixes[2].starts_with("day:"));
  EXPECT_EQ(suffixes[3], "leases");
  EXPECT_TRUE(suffixes[4].starts_with("month:"));
  EXPECT_EQ(suffixes[5], "res");

  // The day hash lives a bit past the end of the UTC day; the lease keys past the lease.
  const auto now = std::chrono::system_clock::now();
  const auto day_end = day_window(now).resets_at;
  const auto day_ttl = server.command({"TTL", "tg:{acme}:" + suffixes[2]}).integer;
  const auto until_end = std::chrono::duration_cast<std::chrono::seconds>(day_end - now).count();
  EXPECT_GT(day_ttl, until_end);
  EXPECT_LE(day_ttl, until_end + 86400 + 5);
  const auto lease_ttl = server.command({"TTL", "tg:{acme}:leases"}).integer;
  EXPECT_GT(lease_ttl, 600);
  EXPECT_LE(lease_ttl, 660);
}

TEST_F(RedisStoreTest, AVanishedGatewaysLeaseExpiresAndIsChargedInFull) {
  config::Limits limits;
  limits.max_concurrent = 1;
  limits.budget_daily = NanoUsd{1000};
  {
    auto crashed = open();
    ASSERT_EQ(admit(*crashed, request("t", "lost", limits, 10, 700, 1s)).verdict, Verdict::admitted);
    // The gateway dies without settling: its connection simply goes away.
  }
  auto survivor = open();
  const auto busy = admit(*survivor, request("t", "next", limits, 10, 100));
  EXPECT_EQ(busy.verdict, Verdict::rate_limited);
  EXPECT_EQ(busy.limit_name, "max_concurrent");

  Admission later;
  ASSERT_TRUE(run_until(io, [&] {
    later = admit(*survivor, request("t", "next", limits, 10, 100));
    return later.verdict != Verdict::rate_limited;
  }, 5s));
  EXPECT_EQ(later.verdict, Verdict::admitted);
  auto usage = run(io, survivor->usage("t"));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->daily.spent, NanoUsd{700});  // charged in full
  // 700 spent + 100 reserved: 201 more would not fit (the budget refuses before the slot).
  EXPECT_EQ(admit(*survivor, request("t", "more", limits, 0, 201)).verdict, Verdict::budget_exceeded);
}

TEST_F(RedisStoreTest, UnreapedReservationsOfAnIdleTenantAreStillChargedInFull) {
  auto store = open();
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(admit(*store, request("idle", "lost", limits, 0, 400, 1s)).verdict, Verdict::admitted);
  // The tenant stays away past the lease's grace: its lease keys expire unreaped.
  server.command({"DEL", "tg:{idle}:leases", "tg:{idle}:res"});
  auto usage = run(io, store->usage("idle"));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->daily.spent, NanoUsd{400});
  EXPECT_EQ(admit(*store, request("idle", "next", limits, 0, 601)).verdict, Verdict::budget_exceeded);
  EXPECT_EQ(admit(*store, request("idle", "next", limits, 0, 600)).verdict, Verdict::admitted);
}

TEST_F(RedisStoreTest, AnOutageIsUnavailableNeverAnException) {
  auto store = open(50ms);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(admit(*store, request("t", "a", limits, 1, 1)).verdict, Verdict::admitted);

  server.kill();
  ASSERT_TRUE(run_until(io, [&] { return !store->ready(); }, 2s));
  const auto refused = admit(*store, request("t", "b", limits, 1, 1));
  EXPECT_EQ(refused.verdict, Verdict::unavailable);
  EXPECT_FALSE(refused.error.empty());
  EXPECT_FALSE(run(io, store->extend("t", "a", limits, NanoUsd{1}, 600s)));
  auto settled = run(io, store->settle("t", "a", limits, Settlement{}));
  ASSERT_FALSE(settled);
  EXPECT_EQ(settled.error().code, Error::limits_unavailable);
  EXPECT_FALSE(run(io, store->usage("t")));

  // A stopped server: the deadline answers.
  server.restart();
  ASSERT_TRUE(run_until(io, [&] { return store->ready(); }, 5s));
  server.pause();
  const auto began = Steady::now();
  const auto late = admit(*store, request("t", "c", limits, 1, 1));
  EXPECT_EQ(late.verdict, Verdict::unavailable);
  EXPECT_LT(Steady::now() - began, 1s);
  server.resume();
  ASSERT_TRUE(run_until(io, [&] { return admit(*store, request("t", "d", limits, 1, 1)).verdict == Verdict::admitted; },
                        5s));
}

TEST_F(RedisStoreTest, ScriptFlushCausesNoFailedRequest) {
  auto store = open();
  config::Limits limits;
  limits.requests_per_minute = 1000;
  ASSERT_EQ(admit(*store, request("t", "a", limits, 1, 1)).verdict, Verdict::admitted);
  server.command({"SCRIPT", "FLUSH"});
  EXPECT_EQ(admit(*store, request("t", "b", limits, 1, 1)).verdict, Verdict::admitted);
  EXPECT_EQ(store->stats().noscript_reloads, 1u);
  server.command({"SCRIPT", "FLUSH"});
  auto settled = run(io, store->settle("t", "a", limits, Settlement{}));
  ASSERT_TRUE(settled);
  EXPECT_TRUE(settled->settled);
  EXPECT_EQ(store->stats().noscript_reloads, 2u);
}

TEST_F(RedisStoreTest, StopMakesEveryCallUnavailable) {
  auto store = open();
  EXPECT_TRUE(store->ready());
  store->stop();
  EXPECT_FALSE(store->ready());
  EXPECT_EQ(admit(*store, request("t", "a", {}, 1, 1)).verdict, Verdict::unavailable);
}

TEST(RedisStoreOptions, ABadUrlThrowsWithoutThePassword) {
  asio::io_context io;
  try {
    RedisStore store(io.get_executor(), RedisStoreOptions{"redis://:T0pSecret@host:notaport/0", 50ms, std::nullopt});
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("T0pSecret"), std::string::npos) << e.what();
  }
}

// Two gateways (two connections, interleaved) on one budget never commit more than it.
asio::awaitable<void> one_request(RedisStore& store, config::Limits limits, int i, int& admitted, int& done) {
  AdmitRequest r = request("shared", "req-" + std::to_string(i), limits, 10, 300);
  const auto a = co_await store.admit(r);
  if (a.verdict == Verdict::admitted) {
    ++admitted;
    co_await store.settle("shared", r.request_id, limits, Settlement{Tokens{1}, Tokens{1}, NanoUsd{300}});
  }
  ++done;
}

TEST(RedisStorePassword, ThePasswordFromTheEnvironmentIsUsedForAuth) {
  // limits.redis.password_env: the URL carries no password, the option does.
  tollgate::testing::RedisServerOptions options;
  options.password = "env-s3cret";
  RedisServer secured(options);
  asio::io_context io;
  RedisStore store(io.get_executor(),
                   RedisStoreOptions{"redis://127.0.0.1:" + std::to_string(secured.port()) + "/0", 1000ms,
                                     std::string("env-s3cret")});
  store.start();
  EXPECT_TRUE(run_until(io, [&] { return store.ready(); }, 5s));
  config::Limits limits;
  limits.requests_per_day = 5;
  EXPECT_EQ(run(io, store.admit(request("pw", "r1", limits, 1, 1))).verdict, Verdict::admitted);
  store.stop();

  RedisStore wrong(io.get_executor(),
                   RedisStoreOptions{"redis://127.0.0.1:" + std::to_string(secured.port()) + "/0", 1000ms,
                                     std::string("not-it")});
  wrong.start();
  EXPECT_FALSE(run_until(io, [&] { return wrong.ready(); }, 500ms));
  const auto refused = run(io, wrong.admit(request("pw", "r2", limits, 1, 1)));
  EXPECT_EQ(refused.verdict, Verdict::unavailable);
  EXPECT_EQ(refused.error.find("not-it"), std::string::npos);
  wrong.stop();
}

TEST_F(RedisStoreTest, TwoGatewaysNeverOverspendOneBudget) {
  auto first = open();
  auto second = open();
  config::Limits limits;
  limits.budget_daily = NanoUsd{10'000};
  int admitted = 0;
  int done = 0;
  constexpr int kRequests = 200;
  for (int i = 0; i < kRequests; ++i) {
    RedisStore& store = i % 2 == 0 ? *first : *second;
    asio::co_spawn(io, one_request(store, limits, i, admitted, done), asio::detached);
  }
  ASSERT_TRUE(run_until(io, [&] { return done == kRequests; }, 30s));
  EXPECT_EQ(admitted, 33);  // floor(10000 / 300)
  auto usage = run(io, first->usage("shared"));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->daily.spent, NanoUsd{admitted * 300});
  EXPECT_LE(usage->daily.spent, NanoUsd{10'000});
}

// prefix + i, without GCC 12's false -Wrestrict on "literal" + std::string.
std::string numbered(std::string_view prefix, int i) {
  std::string out(prefix);
  out.append(std::to_string(i));
  return out;
}

asio::awaitable<void> admit_into(RedisStore& store, AdmitRequest r, std::vector<std::string>& admitted, int& done) {
  const auto a = co_await store.admit(r);
  if (a.verdict == Verdict::admitted) {
    admitted.push_back(r.request_id);
  } else if (a.verdict != Verdict::rate_limited || a.limit_name != "max_concurrent") {
    ADD_FAILURE() << r.request_id << ": " << static_cast<int>(a.verdict) << " " << a.limit_name << " " << a.error;
  }
  ++done;
}

asio::awaitable<void> settle_counted(RedisStore& store, std::string tenant, std::string id, config::Limits limits,
                                     int& settled, int& done) {
  const auto s = co_await store.settle(tenant, id, limits, Settlement{Tokens{1}, Tokens{2}, NanoUsd{400}});
  if (s && s->settled) ++settled;
  ++done;
}

std::int64_t evalsha_calls(RedisServer& server) {
  const auto info = server.command({"INFO", "commandstats"}).text;
  const auto at = info.find("cmdstat_evalsha:calls=");
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + std::string("cmdstat_evalsha:calls=").size()));
}

// Calls of one tenant that arrive while one of its calls is in flight go together in one
// EVALSHA, in arrival order, and get the answers they would get one by one.
TEST_F(RedisStoreTest, ConcurrentCallsOfATenantGoInBatchesWithTheAnswersOfSeparateCalls) {
  auto store = open();
  config::Limits limits;
  limits.max_concurrent = 30;
  limits.budget_daily = NanoUsd{1'000'000};
  server.command({"CONFIG", "RESETSTAT"});

  std::vector<std::string> admitted;
  int done = 0;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(io, admit_into(*store, request("busy", numbered("a", i), limits, 10, 1000), admitted, done),
                   asio::detached);
  }
  ASSERT_TRUE(run_until(io, [&] { return done == 100; }, 10s));
  EXPECT_EQ(admitted.size(), 30u);
  const auto first = store->batch_stats();
  EXPECT_EQ(first.calls, 100u);
  EXPECT_LE(first.batches, 4u);  // the first call alone, then the 99 that waited, 64 at a time
  EXPECT_EQ(evalsha_calls(server), static_cast<std::int64_t>(first.batches));

  // The settles were asked for before the next admits: every slot they free is taken again,
  // and not one more.
  int settled = 0;
  done = 0;
  for (const auto& id : admitted) {
    asio::co_spawn(io, settle_counted(*store, "busy", id, limits, settled, done), asio::detached);
  }
  std::vector<std::string> again;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(io, admit_into(*store, request("busy", numbered("b", i), limits, 10, 1000), again, done),
                   asio::detached);
  }
  ASSERT_TRUE(run_until(io, [&] { return done == 130; }, 10s));
  EXPECT_EQ(settled, 30);
  EXPECT_EQ(again.size(), 30u);
  EXPECT_LT(store->batch_stats().batches - first.batches, 10u);

  auto usage = run(io, store->usage("busy"));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->daily.requests, 60);
  EXPECT_EQ(usage->daily.spent, NanoUsd{30 * 400});
  EXPECT_EQ(usage->daily.input, Tokens{30});
  EXPECT_EQ(usage->daily.output, Tokens{60});
}

// The store's API lets a settle be asked for before its admit has answered; both then wait
// for the same batch, admit first. The settle must take the reservation that admit made: a
// lease left behind would later be reaped and charged a second time, and with max_concurrent
// it would hold a slot until then.
TEST_F(RedisStoreTest, AnAdmitAndItsSettleInOneBatchLeaveNoLease) {
  auto store = open();
  config::Limits limits;
  limits.max_concurrent = 2;
  limits.budget_daily = NanoUsd{1'000'000};
  std::vector<std::string> admitted;
  int settled = 0;
  int done = 0;
  // "first" goes alone; "x" and its settle wait for it and go together, in that order.
  asio::co_spawn(io, admit_into(*store, request("pair", "first", limits, 10, 1000), admitted, done), asio::detached);
  asio::co_spawn(io, admit_into(*store, request("pair", "x", limits, 10, 1000), admitted, done), asio::detached);
  asio::co_spawn(io, settle_counted(*store, "pair", "x", limits, settled, done), asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return done == 3; }, 5s));
  EXPECT_EQ(admitted, (std::vector<std::string>{"first", "x"}));
  EXPECT_EQ(settled, 1);
  EXPECT_EQ(store->batch_stats().batches, 2u);

  EXPECT_TRUE(server.command({"ZSCORE", "tg:{pair}:leases", "x"}).is_nil()) << "x's lease was left behind";
  EXPECT_TRUE(server.command({"HGET", "tg:{pair}:res", "x"}).is_nil()) << "x's record was left behind";
  EXPECT_EQ(server.command({"ZCARD", "tg:{pair}:leases"}).integer, 1);  // first's
  auto usage = run(io, store->usage("pair"));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->daily.spent, NanoUsd{400});  // x's settlement, once
  // A slot is free: first holds one of two.
  EXPECT_EQ(admit(*store, request("pair", "y", limits, 10, 1000)).verdict, Verdict::admitted);
}

asio::awaitable<void> settle_unknown_until(RedisStore& store, const bool& stop, int& calls, bool& finished) {
  config::Limits limits;
  while (!stop) {
    co_await store.settle("one", "unknown", limits, Settlement{});
    ++calls;
  }
  finished = true;
}

asio::awaitable<void> admit_settle_admit(RedisStore& store, int n, int& admitted, int& settled, int& settles_done,
                                         bool& stop) {
  config::Limits limits;
  limits.max_concurrent = 1;
  for (int i = 0; i < n; ++i) {
    const auto a = co_await store.admit(request("one", numbered("r", i), limits, 1, 1));
    if (a.verdict != Verdict::admitted) break;
    ++admitted;
    // Like StoreGuard: the settle runs on its own while the client already sends the next request.
    asio::co_spawn(co_await asio::this_coro::executor,
                   settle_counted(store, "one", numbered("r", i), limits, settled, settles_done),
                   asio::detached);
  }
  stop = true;
}

// A client with max_concurrent: 1 sends its next request as soon as it has the answer; the
// settle of the previous one was asked for first, so it goes first, even while other calls
// of the tenant keep a batch in flight.
TEST_F(RedisStoreTest, ASettleIsNeverOvertakenByALaterAdmitOfTheTenant) {
  auto store = open();
  bool stop = false;
  int noise = 0;
  int admitted = 0;
  int settled = 0;
  int settles_done = 0;
  bool noise_finished = false;
  asio::co_spawn(io, settle_unknown_until(*store, stop, noise, noise_finished), asio::detached);
  asio::co_spawn(io, admit_settle_admit(*store, 50, admitted, settled, settles_done, stop), asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return stop && settles_done == admitted && noise_finished; }, 10s));
  EXPECT_EQ(admitted, 50);
  EXPECT_EQ(settled, 50);
  EXPECT_GT(noise, 0);
}

// lua/common.lua's calendar arithmetic (no os.date in Redis) against std::chrono.
TEST_F(RedisStoreTest, ScriptCalendarMatchesStdChrono) {
  const std::string probe = std::string(lua::kCommon) + R"(
local out = {}
local first, count, step = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 0, count - 1 do
  local day = first + i * step
  local y, m, d = civil_from_days(day)
  local dw, mw = current_windows(day * 86400 + 86399)
  table.insert(out, y * 10000 + m * 100 + d)
  table.insert(out, days_from_civil(y, m, d))
  table.insert(out, dw.stop)
  table.insert(out, mw.start)
  table.insert(out, mw.stop)
end
return out
)";
  using namespace std::chrono;
  const int first = static_cast<int>(sys_days(1970y / January / 1).time_since_epoch().count());
  const int count = 5000;
  const int step = 13;  // 1970 .. 2147, hitting every month position and leap days over time
  const auto reply = server.command({"EVAL", probe, "0", std::to_string(first), std::to_string(count),
                                     std::to_string(step)});
  ASSERT_EQ(reply.type, redis::Reply::Type::array) << reply.text;
  ASSERT_EQ(reply.elements.size(), static_cast<std::size_t>(count) * 5);
  for (int i = 0; i < count; ++i) {
    const sys_days day{days(first + i * step)};
    const year_month_day ymd{day};
    const auto noon = sys_seconds(day) + 12h;
    const auto* v = &reply.elements[static_cast<std::size_t>(i) * 5];
    const auto expected = static_cast<int>(ymd.year()) * 10000 + static_cast<int>(unsigned(ymd.month())) * 100 +
                          static_cast<int>(unsigned(ymd.day()));
    ASSERT_EQ(v[0].integer, expected) << i;
    ASSERT_EQ(v[1].integer, day.time_since_epoch().count()) << i;
    ASSERT_EQ(v[2].integer, day_window(noon).resets_at.time_since_epoch().count()) << i;
    ASSERT_EQ(v[3].integer, month_window(noon).start.time_since_epoch().count()) << i;
    ASSERT_EQ(v[4].integer, month_window(noon).resets_at.time_since_epoch().count()) << i;
  }
}

asio::awaitable<void> timed_admits(RedisStore& store, int n, std::vector<double>& micros) {
  config::Limits limits;
  limits.requests_per_minute = 1'000'000;
  limits.tokens_per_minute = 1'000'000'000;
  limits.max_concurrent = 1'000'000;
  limits.budget_daily = NanoUsd{1'000'000'000'000};
  for (int i = 0; i < n; ++i) {
    AdmitRequest r = request("latency", std::to_string(i), limits, 100, 1000);
    const auto began = Steady::now();
    const auto a = co_await store.admit(r);
    micros.push_back(std::chrono::duration<double, std::micro>(Steady::now() - began).count());
    if (a.verdict != Verdict::admitted) throw std::runtime_error("latency probe refused: " + a.error);
    co_await store.settle("latency", r.request_id, limits, Settlement{Tokens{1}, Tokens{1}, NanoUsd{1}});
  }
}

// Not a benchmark: prints one admit round trip (one EVALSHA) on loopback for the record.
TEST_F(RedisStoreTest, AdmitRoundTripLatency) {
  auto store = open();
  std::vector<double> micros;
  run(io, timed_admits(*store, 2000, micros), 60s);
  std::sort(micros.begin(), micros.end());
  const auto at = [&](double q) { return micros[static_cast<std::size_t>(q * (micros.size() - 1))]; };
  std::printf("admit round trip (loopback, all limits set, 2000 sequential): p50 %.0f us, p99 %.0f us, max %.0f us\n",
              at(0.5), at(0.99), micros.back());
  RecordProperty("admit_p50_us", static_cast<int>(at(0.5)));
  RecordProperty("admit_p99_us", static_cast<int>(at(0.99)));
  EXPECT_EQ(store->stats().timeouts, 0u);
}

}  // namespace
}  // namespace tollgate::limits
