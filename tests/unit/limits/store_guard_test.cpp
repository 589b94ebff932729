#include "tollgate/limits/store_guard.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "fakes/fake_store.hpp"
#include "tollgate/core/clock.hpp"
#include "tollgate/limits/local_store.hpp"

namespace tollgate::limits {
namespace {

namespace asio = boost::asio;
using testing::FakeStore;

class StoreGuardTest : public ::testing::Test {
 protected:
  template <class T>
  T run(asio::awaitable<T> task) {
    auto future = asio::co_spawn(io_, std::move(task), asio::use_future);
    io_.restart();
    io_.run();
    return future.get();
  }

  AdmitRequest request(bool budget, bool rate_limit) {
    AdmitRequest r;
    r.tenant = "acme";
    r.request_id = "req-1";
    if (budget) r.limits.budget_daily = NanoUsd{1'000'000};
    if (rate_limit) r.limits.requests_per_minute = 10;
    r.charge = Charge{Tokens{100}, NanoUsd{5'000}};
    return r;
  }

  asio::io_context io_;
  FakeStore store_;
  FakeStore fallback_;
  StoreGuard guard_{io_.get_executor(), store_, fallback_};
  config::LimitsConfig policy_;
};

TEST_F(StoreGuardTest, AdmittedRequestsSettleWithWhatTheyUsed) {
  store_.next_admission.verdict = Verdict::admitted;
  auto result = run(guard_.admit(request(true, true), policy_));
  ASSERT_EQ(result.admission.verdict, Verdict::admitted);
  ASSERT_TRUE(result.reservation);
  EXPECT_EQ(result.reservation->reserved_cost(), NanoUsd{5'000});
  result.reservation->settle(Settlement{Tokens{10}, Tokens{20}, NanoUsd{300}});
  EXPECT_EQ(guard_.pending(), 1u);
  io_.restart();
  io_.run();
  EXPECT_EQ(guard_.pending(), 0u);
  ASSERT_EQ(store_.settled.size(), 1u);
  EXPECT_EQ(store_.settled[0].first, "req-1");
  EXPECT_EQ(store_.settled[0].second.cost, NanoUsd{300});
  result.reservation.reset();  // already settled: nothing more
  io_.restart();
  io_.run();
  EXPECT_EQ(store_.settled.size(), 1u);
}

TEST_F(StoreGuardTest, ALocalStoreSettlesAtOnceWithoutACoroutine) {
  const SystemClock clock;
  auto local = LocalStore::open(clock, {});
  ASSERT_TRUE(local);
  StoreGuard guard{io_.get_executor(), **local, **local};
  auto result = run(guard.admit(request(true, true), policy_));
  ASSERT_EQ(result.admission.verdict, Verdict::admitted);
  ASSERT_TRUE(result.reservation);
  result.reservation->settle(Settlement{Tokens{10}, Tokens{20}, NanoUsd{300}});
  // Settled before the event loop runs again: nothing pending, the spend already recorded.
  EXPECT_EQ(guard.pending(), 0u);
  EXPECT_EQ(io_.poll(), 0u);
  const auto usage = run((*local)->usage("acme"));
  ASSERT_TRUE(usage);
  EXPECT_EQ(usage->daily.spent, NanoUsd{300});
  EXPECT_EQ(usage->daily.output, Tokens{20});
}

TEST_F(StoreGuardTest, BudgetAlertsFromASettleReachTheAlertHandler) {
  std::vector<std::pair<std::string, BudgetWindow>> seen;
  StoreGuard guard(io_.get_executor(), store_, fallback_, [&](std::string_view tenant, const BudgetAlert& alert) {
    seen.emplace_back(std::string(tenant), alert.window);
  });
  store_.next_admission.verdict = Verdict::admitted;
  store_.alerts_on_settle = {BudgetAlert{BudgetWindow::monthly, NanoUsd{100}, NanoUsd{85}, 0.8, {}}};
  auto result = run(guard.admit(request(true, false), policy_));
  result.reservation->settle(Settlement{Tokens{1}, Tokens{1}, NanoUsd{85}});
  io_.restart();
  io_.run();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, "acme");
  EXPECT_EQ(seen[0].second, BudgetWindow::monthly);
}

TEST_F(StoreGuardTest, AReservationDroppedUnsettledIsChargedInFull) {
  store_.next_admission.verdict = Verdict::admitted;
  run(guard_.admit(request(true, false), policy_));  // the result (and its reservation) is dropped
  io_.restart();
  io_.run();
  ASSERT_EQ(store_.settled.size(), 1u);
  EXPECT_EQ(store_.settled[0].second.cost, NanoUsd{5'000});
  EXPECT_EQ(store_.settled[0].second.input, Tokens{100});
}

TEST_F(StoreGuardTest, ADowngradedAdmissionReservesTheDowngradedCharge) {
  store_.next_admission.verdict = Verdict::admitted;
  store_.next_admission.downgraded = true;
  auto r = request(true, false);
  r.downgraded = Charge{Tokens{100}, NanoUsd{70}};
  auto result = run(guard_.admit(r, policy_));
  EXPECT_EQ(result.reservation->reserved_cost(), NanoUsd{70});
}

TEST_F(StoreGuardTest, ExtendGrowsTheReservationOnlyWhenTheStoreAgrees) {
  store_.next_admission.verdict = Verdict::admitted;
  auto result = run(guard_.admit(request(true, false), policy_));
  EXPECT_TRUE(run(result.reservation->extend(NanoUsd{1'000})));
  EXPECT_EQ(result.reservation->reserved_cost(), NanoUsd{6'000});
  store_.extend_answer = false;
  EXPECT_FALSE(run(result.reservation->extend(NanoUsd{1'000})));
  EXPECT_EQ(result.reservation->reserved_cost(), NanoUsd{6'000});
}

TEST_F(StoreGuardTest, RefusalsPassThroughWithoutAReservation) {
  store_.next_admission.verdict = Verdict::rate_limited;
  store_.next_admission.retry_after = std::chrono::seconds(7);
  const auto result = run(guard_.admit(request(true, true), policy_));
  EXPECT_EQ(result.admission.verdict, Verdict::rate_limited);
  EXPECT_EQ(result.admission.retry_after, std::chrono::seconds(7));
  EXPECT_FALSE(result.reservation);
}

TEST_F(StoreGuardTest, StoreDownWithBudgetsClosedIsUnavailableAndCounted) {
  store_.next_admission.verdict = Verdict::unavailable;
  const auto result = run(guard_.admit(request(true, true), policy_));
  EXPECT_EQ(result.admission.verdict, Verdict::unavailable);
  EXPECT_EQ(guard_.stats().budgets_closed, 1u);
  EXPECT_TRUE(fallback_.admitted.empty());

  store_.next_admission.verdict = Verdict::admitted;  // the store is back
  run(guard_.admit(request(true, true), policy_));
}

TEST_F(StoreGuardTest, StoreDownRateLimitsFallBackToLocalBucketsWithoutBudgets) {
  store_.next_admission.verdict = Verdict::unavailable;
  fallback_.next_admission.verdict = Verdict::admitted;
  policy_.on_store_error_budgets = config::BudgetFallback::open;
  auto result = run(guard_.admit(request(true, true), policy_));
  EXPECT_EQ(result.admission.verdict, Verdict::admitted);
  ASSERT_EQ(fallback_.admitted.size(), 1u);
  EXPECT_FALSE(fallback_.admitted[0].limits.budget_daily);
  EXPECT_EQ(fallback_.admitted[0].limits.requests_per_minute, 10);
  EXPECT_EQ(guard_.stats().budgets_open, 1u);
  EXPECT_EQ(guard_.stats().rate_limits_local, 1u);
  result.reservation->settle({});
  io_.restart();
  io_.run();
  EXPECT_EQ(fallback_.settled.size(), 1u) << "settled where it was admitted";
  EXPECT_TRUE(store_.settled.empty());
}

TEST_F(StoreGuardTest, StoreDownRateLimitsOpenOrClosed) {
  store_.next_admission.verdict = Verdict::unavailable;
  policy_.on_store_error_rate_limits = config::RateLimitFallback::open;
  auto open = run(guard_.admit(request(false, true), policy_));
  EXPECT_EQ(open.admission.verdict, Verdict::admitted);
  EXPECT_EQ(guard_.stats().rate_limits_open, 1u);
  open.reservation.reset();
  io_.restart();
  io_.run();
  EXPECT_TRUE(store_.settled.empty() && fallback_.settled.empty()) << "nothing was reserved";

  policy_.on_store_error_rate_limits = config::RateLimitFallback::closed;
  EXPECT_EQ(run(guard_.admit(request(false, true), policy_)).admission.verdict, Verdict::unavailable);
  EXPECT_EQ(guard_.stats().rate_limits_closed, 1u);
}

TEST_F(StoreGuardTest, StoreDownForATenantWithoutLimitsAdmits) {
  store_.next_admission.verdict = Verdict::unavailable;
  policy_.on_store_error_rate_limits = config::RateLimitFallback::closed;
  EXPECT_EQ(run(guard_.admit(request(false, false), policy_)).admission.verdict, Verdict::admitted);
}

}  // namespace
}  // namespace tollgate::limits
