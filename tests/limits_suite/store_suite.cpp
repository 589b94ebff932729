// The behaviour every limits::Store must have (store.hpp), tested only through the Store
// interface so the same cases run on LocalStore (manual clock) and RedisStore (real
// redis-server, real time). On real time: refill checks sleep a few hundred ms at most, one
// lease test sleeps 1.2 s, and tests needing calendar changes skip.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "limits_suite/store_harness.hpp"

namespace tollgate::testing {

namespace {

using namespace std::chrono_literals;
using limits::Admission;
using limits::AdmitRequest;
using limits::BudgetWindow;
using limits::Charge;
using limits::Settlement;
using limits::Verdict;

// Distinguishes this process run from earlier ones sharing a Redis.
const std::string& run_id() {
  static const std::string id = [] {
    std::random_device random;
    const std::uint64_t value = (static_cast<std::uint64_t>(random()) << 32) ^ random();
    char text[17];
    std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
    return std::string(text);
  }();
  return id;
}

Charge charge(std::int64_t tokens, std::int64_t cost_nano) { return Charge{Tokens{tokens}, NanoUsd{cost_nano}}; }

Settlement used(std::int64_t input, std::int64_t output, std::int64_t cost_nano) {
  return Settlement{Tokens{input}, Tokens{output}, NanoUsd{cost_nano}};
}

// The store calls of one test's tenant, run to completion on the harness.
class Calls {
 public:
  Calls(StoreHarness& harness, std::string tenant) : h_(harness), tenant_(std::move(tenant)) {}

  Admission admit(std::string id, const config::Limits& limits, Charge c,
                  std::optional<Charge> downgraded = std::nullopt, std::chrono::seconds ttl = 600s) {
    AdmitRequest request;
    request.tenant = tenant_;
    request.request_id = std::move(id);
    request.limits = limits;
    request.charge = c;
    request.downgraded = downgraded;
    request.reservation_ttl = ttl;
    return h_.run(h_.store().admit(request));
  }

  bool extend(const std::string& id, const config::Limits& limits, std::int64_t more_nano,
              std::chrono::seconds ttl = 600s) {
    return h_.run(h_.store().extend(tenant_, id, limits, NanoUsd{more_nano}, ttl));
  }

  limits::SettleResult settle(const std::string& id, const config::Limits& limits, Settlement s) {
    auto result = h_.run(h_.store().settle(tenant_, id, limits, s));
    EXPECT_TRUE(result.has_value()) << result.error().message;
    return result.has_value() ? *result : limits::SettleResult{};
  }

  limits::TenantUsage usage() {
    auto result = h_.run(h_.store().usage(tenant_));
    EXPECT_TRUE(result.has_value()) << result.error().message;
    return result.has_value() ? *result : limits::TenantUsage{};
  }

 private:
  StoreHarness& h_;
  std::string tenant_;
};

// "r17": built by appending (GCC 12 warns falsely about `numbered("r", i)` at -O3).
std::string numbered(std::string_view prefix, int i) {
  std::string id(prefix);
  id += std::to_string(i);
  return id;
}

std::chrono::sys_seconds at(std::chrono::sys_days day, std::chrono::seconds time_of_day) {
  return std::chrono::sys_seconds(day) + time_of_day;
}

}  // namespace

void StoreBehaviour::SetUp() {
  harness = GetParam().make();
  ASSERT_NE(harness, nullptr);
  std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::replace_if(name.begin(), name.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '-');
  tenant = "suite-" + run_id() + "-" + name;
}

namespace {

#define SKIP_UNLESS_MANUAL_TIME() \
  if (!harness->manual_time()) GTEST_SKIP() << "needs a manual clock (calendar changes)"

// ---- admission basics and bucket status ----

TEST_P(StoreBehaviour, NoLimitsAdmitsWithoutBucketStatus) {
  Calls s(*harness, tenant);
  const auto a = s.admit("r1", config::Limits{}, charge(100, 1000));
  EXPECT_EQ(a.verdict, Verdict::admitted);
  EXPECT_FALSE(a.downgraded);
  EXPECT_FALSE(a.requests.has_value());
  EXPECT_FALSE(a.tokens.has_value());
  EXPECT_FALSE(a.budget.has_value());
}

TEST_P(StoreBehaviour, BucketStatusAfterAdmission) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 10;   // refills 1 per 6 s
  limits.tokens_per_minute = 1000;   // refills 100 per 6 s
  const auto first = s.admit("r1", limits, charge(100, 0));
  ASSERT_EQ(first.verdict, Verdict::admitted);
  ASSERT_TRUE(first.requests && first.tokens);
  EXPECT_EQ(first.requests->limit, 10);
  EXPECT_EQ(first.requests->remaining, 9);
  EXPECT_GE(first.requests->reset, 5900ms);
  EXPECT_LE(first.requests->reset, 6000ms);
  EXPECT_EQ(first.tokens->limit, 1000);
  EXPECT_EQ(first.tokens->remaining, 900);
  EXPECT_GE(first.tokens->reset, 5900ms);
  EXPECT_LE(first.tokens->reset, 6000ms);

  const auto second = s.admit("r2", limits, charge(250, 0));
  ASSERT_EQ(second.verdict, Verdict::admitted);
  ASSERT_TRUE(second.requests && second.tokens);
  EXPECT_EQ(second.requests->remaining, 8);
  EXPECT_GE(second.requests->reset, 11000ms);
  EXPECT_LE(second.requests->reset, 12000ms);
  EXPECT_GE(second.tokens->remaining, 650);
  EXPECT_LE(second.tokens->remaining, 660);
  EXPECT_GE(second.tokens->reset, 20000ms);
  EXPECT_LE(second.tokens->reset, 21000ms);
}

// ---- each limit refuses at exactly its limit ----

TEST_P(StoreBehaviour, RequestsPerMinuteRefusesAtLimit) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 3;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.admit(numbered("r", i), limits, charge(1, 0)).verdict, Verdict::admitted) << i;
  }
  const auto refused = s.admit("r3", limits, charge(1, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "requests_per_minute");
  // One request refills in 60 s / 3.
  EXPECT_GE(refused.retry_after, 19s);
  EXPECT_LE(refused.retry_after, 20s);
  ASSERT_TRUE(refused.requests.has_value());
  EXPECT_EQ(refused.requests->limit, 3);
  EXPECT_EQ(refused.requests->remaining, 0);
  EXPECT_FALSE(refused.budget.has_value());
}

TEST_P(StoreBehaviour, RequestsPerDayRefusesAtLimit) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_day = 2;
  EXPECT_EQ(s.admit("r1", limits, charge(1, 0)).verdict, Verdict::admitted);
  EXPECT_EQ(s.admit("r2", limits, charge(1, 0)).verdict, Verdict::admitted);
  // Finished requests still count: the limit is on admissions in the UTC day.
  EXPECT_TRUE(s.settle("r1", limits, used(1, 1, 0)).settled);
  EXPECT_TRUE(s.settle("r2", limits, used(1, 1, 0)).settled);

  const auto refused = s.admit("r3", limits, charge(1, 0));
  const auto now = harness->now();
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "requests_per_day");
  const auto until_midnight = std::chrono::ceil<std::chrono::seconds>(limits::day_window(now).resets_at - now);
  EXPECT_GE(refused.retry_after, 1s);
  EXPECT_GE(refused.retry_after, until_midnight - 2s);
  EXPECT_LE(refused.retry_after, until_midnight + 2s);
  EXPECT_EQ(s.usage().daily.requests, 2);
}

TEST_P(StoreBehaviour, TokensPerMinuteRefusesAtLimit) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.tokens_per_minute = 1000;
  EXPECT_EQ(s.admit("r1", limits, charge(400, 0)).verdict, Verdict::admitted);
  EXPECT_EQ(s.admit("r2", limits, charge(400, 0)).verdict, Verdict::admitted);

  const auto refused = s.admit("r3", limits, charge(400, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "tokens_per_minute");
  // 200 tokens short at 1000/min: 12 s.
  EXPECT_GE(refused.retry_after, 11s);
  EXPECT_LE(refused.retry_after, 12s);
  ASSERT_TRUE(refused.tokens.has_value());
  EXPECT_GE(refused.tokens->remaining, 200);
  EXPECT_LE(refused.tokens->remaining, 205);

  // What is left fits exactly.
  EXPECT_EQ(s.admit("r4", limits, charge(200, 0)).verdict, Verdict::admitted);
}

TEST_P(StoreBehaviour, TokensPerMinuteRefusesOneRequestOverCapacity) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.tokens_per_minute = 1000;
  const auto refused = s.admit("big", limits, charge(1001, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "tokens_per_minute");
  EXPECT_EQ(refused.retry_after, 60s);
  ASSERT_TRUE(refused.tokens.has_value());
  EXPECT_EQ(refused.tokens->remaining, 1000);  // nothing taken

  const auto whole = s.admit("whole", limits, charge(1000, 0));
  EXPECT_EQ(whole.verdict, Verdict::admitted);
}

TEST_P(StoreBehaviour, MaxConcurrentRefusesAtLimitUntilASettle) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.max_concurrent = 2;
  EXPECT_EQ(s.admit("r1", limits, charge(1, 0)).verdict, Verdict::admitted);
  EXPECT_EQ(s.admit("r2", limits, charge(1, 0)).verdict, Verdict::admitted);

  const auto refused = s.admit("r3", limits, charge(1, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "max_concurrent");
  EXPECT_EQ(refused.retry_after, 1s);

  EXPECT_TRUE(s.settle("r1", limits, used(1, 1, 0)).settled);
  EXPECT_EQ(s.admit("r3", limits, charge(1, 0)).verdict, Verdict::admitted);
  EXPECT_EQ(s.admit("r4", limits, charge(1, 0)).verdict, Verdict::rate_limited);
}

TEST_P(StoreBehaviour, DailyBudgetRefusesAtLimit) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(s.admit("r1", limits, charge(0, 400)).verdict, Verdict::admitted);
  ASSERT_TRUE(s.settle("r1", limits, used(1, 1, 300)).settled);  // 300 committed
  ASSERT_EQ(s.admit("r2", limits, charge(0, 400)).verdict, Verdict::admitted);  // 400 reserved

  const auto refused = s.admit("r3", limits, charge(0, 400));
  EXPECT_EQ(refused.verdict, Verdict::budget_exceeded);
  ASSERT_TRUE(refused.budget.has_value());
  EXPECT_EQ(refused.budget->window, BudgetWindow::daily);
  EXPECT_EQ(refused.budget->limit, NanoUsd{1000});
  EXPECT_EQ(refused.budget->spent, NanoUsd{700});  // committed + reserved
  EXPECT_EQ(refused.budget->resets_at, limits::day_window(harness->now()).resets_at);

  // Exactly up to the limit fits; one nano-dollar more does not.
  EXPECT_EQ(s.admit("r4", limits, charge(0, 300)).verdict, Verdict::admitted);
  const auto full = s.admit("r5", limits, charge(0, 1));
  EXPECT_EQ(full.verdict, Verdict::budget_exceeded);
  ASSERT_TRUE(full.budget.has_value());
  EXPECT_EQ(full.budget->spent, NanoUsd{1000});
  EXPECT_EQ(s.admit("free", limits, charge(0, 0)).verdict, Verdict::admitted);
}

TEST_P(StoreBehaviour, MonthlyBudgetRefusesAtLimit) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_monthly = NanoUsd{5000};
  ASSERT_EQ(s.admit("r1", limits, charge(0, 3000)).verdict, Verdict::admitted);
  ASSERT_TRUE(s.settle("r1", limits, used(1, 1, 3000)).settled);

  const auto refused = s.admit("r2", limits, charge(0, 2001));
  EXPECT_EQ(refused.verdict, Verdict::budget_exceeded);
  ASSERT_TRUE(refused.budget.has_value());
  EXPECT_EQ(refused.budget->window, BudgetWindow::monthly);
  EXPECT_EQ(refused.budget->limit, NanoUsd{5000});
  EXPECT_EQ(refused.budget->spent, NanoUsd{3000});
  EXPECT_EQ(refused.budget->resets_at, limits::month_window(harness->now()).resets_at);

  EXPECT_EQ(s.admit("r3", limits, charge(0, 2000)).verdict, Verdict::admitted);
}

TEST_P(StoreBehaviour, BudgetRefusalNamesTheShortWindow) {
  Calls s(*harness, tenant);
  config::Limits both;
  both.budget_daily = NanoUsd{1000};
  both.budget_monthly = NanoUsd{1000};
  const auto both_short = s.admit("r1", both, charge(0, 1001));
  EXPECT_EQ(both_short.verdict, Verdict::budget_exceeded);
  ASSERT_TRUE(both_short.budget.has_value());
  EXPECT_EQ(both_short.budget->window, BudgetWindow::daily);

  config::Limits month_short;
  month_short.budget_daily = NanoUsd{10000};
  month_short.budget_monthly = NanoUsd{500};
  const auto monthly = s.admit("r2", month_short, charge(0, 600));
  EXPECT_EQ(monthly.verdict, Verdict::budget_exceeded);
  ASSERT_TRUE(monthly.budget.has_value());
  EXPECT_EQ(monthly.budget->window, BudgetWindow::monthly);
  EXPECT_EQ(monthly.budget->limit, NanoUsd{500});
  EXPECT_EQ(monthly.budget->spent, NanoUsd{0});
}

// ---- several limits at once ----

TEST_P(StoreBehaviour, BudgetRefusalOutranksRateLimits) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 1;
  limits.budget_daily = NanoUsd{15};
  ASSERT_EQ(s.admit("r1", limits, charge(0, 10)).verdict, Verdict::admitted);
  const auto refused = s.admit("r2", limits, charge(0, 10));  // over both
  EXPECT_EQ(refused.verdict, Verdict::budget_exceeded);
  EXPECT_TRUE(refused.budget.has_value());
  ASSERT_TRUE(refused.requests.has_value());
  EXPECT_EQ(refused.requests->remaining, 0);
}

TEST_P(StoreBehaviour, LongestRetryAfterIsReported) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 1;  // next in ~60 s
  limits.max_concurrent = 1;       // 1 s
  ASSERT_EQ(s.admit("r1", limits, charge(0, 0)).verdict, Verdict::admitted);
  const auto refused = s.admit("r2", limits, charge(0, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "requests_per_minute");
  EXPECT_GE(refused.retry_after, 59s);
  EXPECT_LE(refused.retry_after, 60s);
}

TEST_P(StoreBehaviour, RefusalTakesNothingFromOtherLimits) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 10;
  limits.tokens_per_minute = 1000;
  limits.requests_per_day = 5;
  limits.max_concurrent = 3;
  limits.budget_daily = NanoUsd{1000};

  EXPECT_EQ(s.admit("over-budget", limits, charge(100, 2000)).verdict, Verdict::budget_exceeded);
  EXPECT_EQ(s.admit("over-tokens", limits, charge(5000, 10)).verdict, Verdict::rate_limited);

  const auto first = s.admit("r1", limits, charge(100, 100));
  ASSERT_EQ(first.verdict, Verdict::admitted);
  ASSERT_TRUE(first.requests && first.tokens);
  EXPECT_EQ(first.requests->remaining, 9);
  EXPECT_EQ(first.tokens->remaining, 900);
  EXPECT_EQ(s.usage().daily.requests, 1);
  // Neither refusal reserved any budget: 100 + 900 fits exactly.
  ASSERT_EQ(s.admit("r2", limits, charge(100, 900)).verdict, Verdict::admitted);
  ASSERT_EQ(s.admit("r3", limits, charge(100, 0)).verdict, Verdict::admitted);

  const auto busy = s.admit("r4", limits, charge(100, 0));
  EXPECT_EQ(busy.verdict, Verdict::rate_limited);
  EXPECT_EQ(busy.limit_name, "max_concurrent");
  ASSERT_TRUE(busy.requests && busy.tokens);
  EXPECT_EQ(busy.requests->remaining, 7);
  EXPECT_GE(busy.tokens->remaining, 700);
  EXPECT_LE(busy.tokens->remaining, 705);
  EXPECT_EQ(s.usage().daily.requests, 3);
}

// ---- settle ----

TEST_P(StoreBehaviour, SettleRefundsCostAndTokensAndFreesTheSlot) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.max_concurrent = 1;
  limits.tokens_per_minute = 1000;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(s.admit("r1", limits, charge(600, 800)).verdict, Verdict::admitted);
  EXPECT_EQ(s.admit("r2", limits, charge(1, 1)).verdict, Verdict::rate_limited);

  const auto settled = s.settle("r1", limits, used(100, 100, 300));
  EXPECT_TRUE(settled.settled);
  EXPECT_TRUE(settled.alerts.empty());
  const auto usage = s.usage();
  EXPECT_EQ(usage.daily.requests, 1);
  EXPECT_EQ(usage.daily.input, Tokens{100});
  EXPECT_EQ(usage.daily.output, Tokens{100});
  EXPECT_EQ(usage.daily.spent, NanoUsd{300});

  // 400 tokens came back (1000 - 600 + 400 = 800) and 500 of budget: this fits exactly.
  const auto next = s.admit("r3", limits, charge(800, 700));
  ASSERT_EQ(next.verdict, Verdict::admitted);
  ASSERT_TRUE(next.tokens.has_value());
  EXPECT_LE(next.tokens->remaining, 5);
}

TEST_P(StoreBehaviour, SettleBeyondTheReservationTakesMoreTokens) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.tokens_per_minute = 1000;
  ASSERT_EQ(s.admit("r1", limits, charge(100, 0)).verdict, Verdict::admitted);
  ASSERT_TRUE(s.settle("r1", limits, used(1000, 1000, 0)).settled);  // level about -1000
  const auto refused = s.admit("r2", limits, charge(1, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.limit_name, "tokens_per_minute");
  EXPECT_GE(refused.retry_after, 55s);
  EXPECT_LE(refused.retry_after, 61s);
  ASSERT_TRUE(refused.tokens.has_value());
  EXPECT_EQ(refused.tokens->remaining, 0);
}

TEST_P(StoreBehaviour, SettleOfAnUnknownIdIsNotSettled) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  const auto unknown = s.settle("never-admitted", limits, used(1, 1, 5));
  EXPECT_FALSE(unknown.settled);
  EXPECT_TRUE(unknown.alerts.empty());

  ASSERT_EQ(s.admit("r1", limits, charge(0, 100)).verdict, Verdict::admitted);
  EXPECT_TRUE(s.settle("r1", limits, used(1, 1, 50)).settled);
  EXPECT_FALSE(s.settle("r1", limits, used(1, 1, 50)).settled);
  const auto usage = s.usage();
  EXPECT_EQ(usage.daily.spent, NanoUsd{50});
  EXPECT_EQ(usage.daily.input, Tokens{1});
}

TEST_P(StoreBehaviour, AdmitIsIdempotentPerRequestId) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 10;
  limits.tokens_per_minute = 1000;
  limits.max_concurrent = 2;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(s.admit("r1", limits, charge(100, 400)).verdict, Verdict::admitted);
  const auto again = s.admit("r1", limits, charge(100, 400));
  EXPECT_EQ(again.verdict, Verdict::admitted);
  ASSERT_TRUE(again.requests && again.tokens);
  EXPECT_EQ(again.requests->remaining, 9);
  EXPECT_GE(again.tokens->remaining, 900);
  EXPECT_LE(again.tokens->remaining, 905);
  EXPECT_EQ(s.usage().daily.requests, 1);

  EXPECT_EQ(s.admit("r2", limits, charge(100, 600)).verdict, Verdict::admitted);  // 400 + 600
  EXPECT_EQ(s.admit("r3", limits, charge(0, 0)).limit_name, "max_concurrent");
}

// ---- extend ----

TEST_P(StoreBehaviour, ExtendGrowsAReservationWhileTheBudgetFits) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(s.admit("r1", limits, charge(0, 400)).verdict, Verdict::admitted);
  EXPECT_TRUE(s.extend("r1", limits, 500));    // 900 reserved
  EXPECT_FALSE(s.extend("r1", limits, 200));   // 1100 would not fit; nothing changes
  EXPECT_FALSE(s.extend("unknown", limits, 1));

  EXPECT_EQ(s.admit("r2", limits, charge(0, 101)).verdict, Verdict::budget_exceeded);
  EXPECT_EQ(s.admit("r2", limits, charge(0, 100)).verdict, Verdict::admitted);
  EXPECT_FALSE(s.extend("r1", limits, 1));

  ASSERT_TRUE(s.settle("r1", limits, used(10, 10, 850)).settled);
  EXPECT_EQ(s.usage().daily.spent, NanoUsd{850});
  EXPECT_FALSE(s.extend("r1", limits, 1));  // settled: gone

  config::Limits unlimited;
  EXPECT_TRUE(s.extend("r2", unlimited, 1'000'000));
}

// ---- refill ----

TEST_P(StoreBehaviour, RequestsRefillOverTime) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_minute = 600;  // one every 100 ms
  int admitted = 0;
  Admission last;
  for (int i = 0; i < 1000; ++i) {
    last = s.admit(numbered("r", i), limits, charge(0, 0));
    if (last.verdict != Verdict::admitted) break;
    ++admitted;
  }
  EXPECT_GE(admitted, 600);
  EXPECT_LE(admitted, 700);
  ASSERT_EQ(last.verdict, Verdict::rate_limited);
  EXPECT_EQ(last.limit_name, "requests_per_minute");
  EXPECT_EQ(last.retry_after, 1s);

  harness->advance(300ms);
  const auto refilled = s.admit("after", limits, charge(0, 0));
  EXPECT_EQ(refilled.verdict, Verdict::admitted);
}

TEST_P(StoreBehaviour, TokensRefillOverTime) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.tokens_per_minute = 6000;  // 100 per second
  ASSERT_EQ(s.admit("all", limits, charge(6000, 0)).verdict, Verdict::admitted);
  const auto refused = s.admit("r1", limits, charge(30, 0));
  EXPECT_EQ(refused.verdict, Verdict::rate_limited);
  EXPECT_EQ(refused.retry_after, 1s);

  harness->advance(400ms);  // 40 tokens back
  const auto refilled = s.admit("r1", limits, charge(30, 0));
  ASSERT_EQ(refilled.verdict, Verdict::admitted);
  ASSERT_TRUE(refilled.tokens.has_value());
  EXPECT_GE(refilled.tokens->remaining, 10);
  EXPECT_LE(refilled.tokens->remaining, 60);
  EXPECT_LE(refilled.tokens->reset, 60000ms);
  EXPECT_GE(refilled.tokens->reset, 59000ms);
}

// ---- downgrade ----

TEST_P(StoreBehaviour, DowngradesFromDowngradeAtOfTheDailyBudget) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  limits.tokens_per_minute = 10000;
  limits.downgrade_at = 0.5;
  const Charge full = charge(100, 250);
  const Charge cheap = charge(10, 50);

  const auto a = s.admit("a", limits, full, cheap);  // 0 of 1000 before
  ASSERT_EQ(a.verdict, Verdict::admitted);
  EXPECT_FALSE(a.downgraded);
  const auto b = s.admit("b", limits, full, cheap);  // 250
  ASSERT_EQ(b.verdict, Verdict::admitted);
  EXPECT_FALSE(b.downgraded);
  const auto c = s.admit("c", limits, full, cheap);  // 500: exactly downgrade_at
  ASSERT_EQ(c.verdict, Verdict::admitted);
  EXPECT_TRUE(c.downgraded);
  ASSERT_TRUE(c.tokens.has_value());
  EXPECT_GE(c.tokens->remaining, 9790);  // 10000 - 100 - 100 - 10
  EXPECT_LE(c.tokens->remaining, 9795);

  // Settled spend counts too, and only the downgraded cost was reserved (550 so far).
  ASSERT_TRUE(s.settle("a", limits, used(1, 1, 250)).settled);
  const auto d = s.admit("d", limits, full, cheap);
  EXPECT_TRUE(d.downgraded);
  // Without a downgrade target the full charge is admitted as asked (600 + 250).
  const auto e = s.admit("e", limits, full);
  ASSERT_EQ(e.verdict, Verdict::admitted);
  EXPECT_FALSE(e.downgraded);
  // An idempotent retry answers the same.
  EXPECT_TRUE(s.admit("c", limits, full, cheap).downgraded);
}

TEST_P(StoreBehaviour, DowngradesFromDowngradeAtOfTheMonthlyBudget) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{100000};
  limits.budget_monthly = NanoUsd{1000};
  limits.downgrade_at = 0.5;
  EXPECT_FALSE(s.admit("a", limits, charge(0, 600), charge(0, 10)).downgraded);
  EXPECT_TRUE(s.admit("b", limits, charge(0, 100), charge(0, 10)).downgraded);

  config::Limits no_threshold = limits;
  no_threshold.downgrade_at.reset();
  EXPECT_FALSE(s.admit("c", no_threshold, charge(0, 100), charge(0, 10)).downgraded);
}

// ---- alerts ----

TEST_P(StoreBehaviour, SoftAlertOncePerWindowOnCommittedSpend) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  limits.budget_monthly = NanoUsd{1'000'000};
  limits.soft_alert_at = 0.8;
  ASSERT_EQ(s.admit("a", limits, charge(0, 500)).verdict, Verdict::admitted);
  EXPECT_TRUE(s.settle("a", limits, used(1, 1, 500)).alerts.empty());

  // Reserved money does not raise the alert, only committed spend.
  ASSERT_EQ(s.admit("live", limits, charge(0, 400)).verdict, Verdict::admitted);
  ASSERT_EQ(s.admit("b", limits, charge(0, 100)).verdict, Verdict::admitted);
  EXPECT_TRUE(s.settle("b", limits, used(1, 1, 100)).alerts.empty());  // 600 committed

  const auto crossing = s.settle("live", limits, used(1, 1, 200));  // 800 committed: exactly 0.8
  ASSERT_TRUE(crossing.settled);
  ASSERT_EQ(crossing.alerts.size(), 1u);
  const auto& alert = crossing.alerts.front();
  EXPECT_EQ(alert.window, BudgetWindow::daily);
  EXPECT_EQ(alert.limit, NanoUsd{1000});
  EXPECT_EQ(alert.spent, NanoUsd{800});
  EXPECT_DOUBLE_EQ(alert.threshold, 0.8);
  EXPECT_EQ(alert.window_start, limits::day_window(harness->now()).start);

  ASSERT_EQ(s.admit("c", limits, charge(0, 100)).verdict, Verdict::admitted);
  EXPECT_TRUE(s.settle("c", limits, used(1, 1, 100)).alerts.empty());  // once per window
}

TEST_P(StoreBehaviour, SoftAlertForEachBudgetCrossed) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  limits.budget_monthly = NanoUsd{1000};
  limits.soft_alert_at = 0.5;
  ASSERT_EQ(s.admit("a", limits, charge(0, 700)).verdict, Verdict::admitted);
  const auto settled = s.settle("a", limits, used(1, 1, 600));
  ASSERT_EQ(settled.alerts.size(), 2u);
  const bool daily_first = settled.alerts[0].window == BudgetWindow::daily;
  const auto& daily = settled.alerts[daily_first ? 0 : 1];
  const auto& monthly = settled.alerts[daily_first ? 1 : 0];
  EXPECT_EQ(daily.window, BudgetWindow::daily);
  EXPECT_EQ(monthly.window, BudgetWindow::monthly);
  EXPECT_EQ(monthly.spent, NanoUsd{600});
  EXPECT_DOUBLE_EQ(monthly.threshold, 0.5);
  EXPECT_EQ(monthly.window_start, limits::month_window(harness->now()).start);
}

// ---- usage ----

TEST_P(StoreBehaviour, UsageCountsAdmissionsAndSettlements) {
  Calls s(*harness, tenant);
  const auto empty = s.usage();
  const auto now = harness->now();
  EXPECT_EQ(empty.daily.requests, 0);
  EXPECT_EQ(empty.daily.spent, NanoUsd{0});
  EXPECT_EQ(empty.daily.start, limits::day_window(now).start);
  EXPECT_EQ(empty.daily.resets_at, limits::day_window(now).resets_at);
  EXPECT_EQ(empty.monthly.start, limits::month_window(now).start);
  EXPECT_EQ(empty.monthly.resets_at, limits::month_window(now).resets_at);

  config::Limits limits;
  limits.budget_daily = NanoUsd{10000};
  ASSERT_EQ(s.admit("a", limits, charge(100, 1000)).verdict, Verdict::admitted);
  ASSERT_EQ(s.admit("b", limits, charge(100, 1000)).verdict, Verdict::admitted);
  ASSERT_EQ(s.admit("c", limits, charge(100, 1000)).verdict, Verdict::admitted);
  ASSERT_EQ(s.admit("refused", limits, charge(100, 9000)).verdict, Verdict::budget_exceeded);
  ASSERT_TRUE(s.settle("a", limits, used(10, 20, 100)).settled);
  ASSERT_TRUE(s.settle("b", limits, used(5, 5, 50)).settled);

  const auto usage = s.usage();
  for (const auto* w : {&usage.daily, &usage.monthly}) {
    EXPECT_EQ(w->requests, 3);
    EXPECT_EQ(w->input, Tokens{15});
    EXPECT_EQ(w->output, Tokens{25});
    EXPECT_EQ(w->spent, NanoUsd{150});  // c is still only reserved
  }
}

// ---- leases ----

TEST_P(StoreBehaviour, AnExpiredLeaseIsChargedInFullAndFreesItsSlot) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.max_concurrent = 2;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(s.admit("lost", limits, charge(0, 300), std::nullopt, 1s).verdict, Verdict::admitted);
  ASSERT_EQ(s.admit("kept", limits, charge(0, 200), std::nullopt, 1s).verdict, Verdict::admitted);
  harness->advance(600ms);
  EXPECT_TRUE(s.extend("kept", limits, 0, 1s));  // renews its lease
  harness->advance(600ms);

  const auto usage = s.usage();  // reaps "lost"
  EXPECT_EQ(usage.daily.spent, NanoUsd{300});
  EXPECT_FALSE(s.settle("lost", limits, used(1, 1, 1)).settled);
  EXPECT_EQ(s.usage().daily.spent, NanoUsd{300});

  EXPECT_EQ(s.admit("next", limits, charge(0, 0)).verdict, Verdict::admitted);  // a slot was freed
  EXPECT_TRUE(s.settle("kept", limits, used(1, 1, 100)).settled);
  EXPECT_EQ(s.usage().daily.spent, NanoUsd{400});
}

// ---- calendar windows (manual time only) ----

TEST_P(StoreBehaviour, DayRollsOverAtUtcMidnight) {
  SKIP_UNLESS_MANUAL_TIME();
  using namespace std::chrono;
  harness->set_time(at(sys_days(2027y / March / 10), 23h + 59min + 30s));
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.requests_per_day = 2;
  limits.budget_daily = NanoUsd{1000};
  limits.budget_monthly = NanoUsd{100000};
  ASSERT_EQ(s.admit("a", limits, charge(0, 600)).verdict, Verdict::admitted);
  ASSERT_TRUE(s.settle("a", limits, used(1, 1, 600)).settled);
  ASSERT_EQ(s.admit("late", limits, charge(0, 400)).verdict, Verdict::admitted);  // settles tomorrow
  const auto refused = s.admit("b", limits, charge(0, 0));
  EXPECT_EQ(refused.limit_name, "requests_per_day");
  EXPECT_EQ(refused.retry_after, 30s);
  EXPECT_EQ(s.admit("c", limits, charge(0, 1)).verdict, Verdict::budget_exceeded);

  harness->set_time(at(sys_days(2027y / March / 11), 0s));
  const auto fresh = s.admit("b", limits, charge(0, 1000));
  EXPECT_EQ(fresh.verdict, Verdict::admitted);
  ASSERT_TRUE(s.settle("late", limits, used(1, 1, 400)).settled);
  const auto usage = s.usage();
  EXPECT_EQ(usage.daily.start, sys_seconds(sys_days(2027y / March / 11)));
  EXPECT_EQ(usage.daily.resets_at, sys_seconds(sys_days(2027y / March / 12)));
  EXPECT_EQ(usage.daily.requests, 1);
  EXPECT_EQ(usage.daily.spent, NanoUsd{0});  // "late" belongs to yesterday
  EXPECT_EQ(usage.monthly.requests, 3);
  EXPECT_EQ(usage.monthly.spent, NanoUsd{1000});
}

TEST_P(StoreBehaviour, MonthRollsOverAtMonthEnd) {
  SKIP_UNLESS_MANUAL_TIME();
  using namespace std::chrono;
  harness->set_time(at(sys_days(2028y / February / 29), 23h + 59min + 59s));  // leap year
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_monthly = NanoUsd{1000};
  limits.soft_alert_at = 0.5;
  ASSERT_EQ(s.admit("a", limits, charge(0, 1000)).verdict, Verdict::admitted);
  EXPECT_EQ(s.settle("a", limits, used(1, 1, 1000)).alerts.size(), 1u);
  const auto refused = s.admit("b", limits, charge(0, 1));
  ASSERT_TRUE(refused.budget.has_value());
  EXPECT_EQ(refused.budget->resets_at, sys_seconds(sys_days(2028y / March / 1)));

  harness->set_time(at(sys_days(2028y / March / 1), 0s));
  ASSERT_EQ(s.admit("b", limits, charge(0, 600)).verdict, Verdict::admitted);
  EXPECT_EQ(s.settle("b", limits, used(1, 1, 600)).alerts.size(), 1u);  // a new window alerts again
  const auto march = s.usage();
  EXPECT_EQ(march.monthly.start, sys_seconds(sys_days(2028y / March / 1)));
  EXPECT_EQ(march.monthly.resets_at, sys_seconds(sys_days(2028y / April / 1)));
  EXPECT_EQ(march.monthly.spent, NanoUsd{600});
  EXPECT_EQ(march.monthly.requests, 1);

  harness->set_time(at(sys_days(2028y / December / 31), 23h + 59min + 59s));
  const auto december = s.usage();
  EXPECT_EQ(december.monthly.start, sys_seconds(sys_days(2028y / December / 1)));
  EXPECT_EQ(december.monthly.resets_at, sys_seconds(sys_days(2029y / January / 1)));
  EXPECT_EQ(december.daily.resets_at, sys_seconds(sys_days(2029y / January / 1)));
  EXPECT_EQ(december.monthly.spent, NanoUsd{0});
}

// ---- restart (stores with process-local state) ----

TEST_P(StoreBehaviour, RestartKeepsSpendAndChargesLiveReservations) {
  Calls s(*harness, tenant);
  config::Limits limits;
  limits.budget_daily = NanoUsd{1000};
  limits.tokens_per_minute = 1000;
  limits.soft_alert_at = 0.5;
  ASSERT_EQ(s.admit("a", limits, charge(300, 600)).verdict, Verdict::admitted);
  ASSERT_EQ(s.settle("a", limits, used(100, 100, 600)).alerts.size(), 1u);
  ASSERT_EQ(s.admit("live", limits, charge(100, 300)).verdict, Verdict::admitted);

  if (!harness->restart()) GTEST_SKIP() << "the store keeps no process-local state";

  const auto usage = s.usage();
  EXPECT_EQ(usage.daily.spent, NanoUsd{900});  // 600 settled + 300 charged in full
  EXPECT_EQ(usage.daily.requests, 2);
  EXPECT_EQ(usage.daily.input, Tokens{100});
  EXPECT_EQ(usage.daily.output, Tokens{100});
  EXPECT_FALSE(s.settle("live", limits, used(1, 1, 1)).settled);

  const auto next = s.admit("b", limits, charge(0, 100));  // exactly the rest
  ASSERT_EQ(next.verdict, Verdict::admitted);
  ASSERT_TRUE(next.tokens.has_value());
  EXPECT_GE(next.tokens->remaining, 700);  // 1000 - 300 + 100 - 100: the bucket survived too
  EXPECT_LE(next.tokens->remaining, 705);
  EXPECT_EQ(s.admit("c", limits, charge(0, 1)).verdict, Verdict::budget_exceeded);
  EXPECT_TRUE(s.settle("b", limits, used(1, 1, 100)).alerts.empty());  // raised before the restart
}

}  // namespace
}  // namespace tollgate::testing
