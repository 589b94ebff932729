// LocalStore beyond the shared behaviour suite: its state file (format, restart, corruption,
// torn writes, the background writer, the state_dir lock) and concurrent callers.
#include "tollgate/limits/local_store.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "fakes/manual_clock.hpp"
#include "support/temp_dir.hpp"

namespace tollgate::limits {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;
using testing::TempDir;

const std::chrono::system_clock::time_point kStart =
    std::chrono::sys_days(std::chrono::year(2026) / std::chrono::November / 18) + 10h;

// Runs one store call to completion on `io` (LocalStore's calls complete inline).
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  auto future = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.restart();
  io.run();
  return future.get();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_all(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

class LocalStoreTest : public ::testing::Test {
 protected:
  std::string state_path() const { return dir_.path() + "/limits.state"; }

  Result<std::unique_ptr<LocalStore>> try_open(std::chrono::milliseconds flush_interval = 1s) {
    return LocalStore::open(clock_, LocalStoreOptions{dir_.path(), flush_interval});
  }

  std::unique_ptr<LocalStore> open(std::chrono::milliseconds flush_interval = 1s) {
    auto opened = try_open(flush_interval);
    EXPECT_TRUE(opened.has_value()) << opened.error().message;
    return opened.has_value() ? std::move(*opened) : nullptr;
  }

  Admission admit(Store& store, std::string tenant, std::string id, const config::Limits& limits, Charge charge,
                  std::chrono::seconds ttl = 600s) {
    AdmitRequest request;
    request.tenant = std::move(tenant);
    request.request_id = std::move(id);
    request.limits = limits;
    request.charge = charge;
    request.reservation_ttl = ttl;
    return run(io_, store.admit(request));
  }

  SettleResult settle(Store& store, const std::string& tenant, const std::string& id, const config::Limits& limits,
                      NanoUsd cost) {
    return run(io_, store.settle(tenant, id, limits, Settlement{Tokens{1}, Tokens{1}, cost})).value();
  }

  TenantUsage usage(Store& store, const std::string& tenant) { return run(io_, store.usage(tenant)).value(); }

  ManualClock clock_{kStart};
  boost::asio::io_context io_;
  TempDir dir_;
};

config::Limits budget(std::int64_t daily_nano) {
  config::Limits limits;
  limits.budget_daily = NanoUsd{daily_nano};
  return limits;
}

// ---- the state file ----

TEST_F(LocalStoreTest, WritesTheDocumentedFormat) {
  auto store = open();
  config::Limits limits;
  limits.requests_per_minute = 10;
  limits.tokens_per_minute = 1000;
  limits.budget_daily = NanoUsd{1000};
  ASSERT_EQ(admit(*store, "acme co", "r/1", limits, Charge{Tokens{100}, NanoUsd{400}}).verdict, Verdict::admitted);
  ASSERT_TRUE(store->flush().has_value());
  EXPECT_EQ(read_all(state_path()),
            "tollgate-limits-state 1\n"
            "tenant acme%20co\n"
            "day 1794960000 1 0 0 0 400 0\n"
            "month 1793491200 1 0 0 0 400 0\n"
            "requests 9 1794996000000\n"
            "tokens 900 1794996000000\n"
            "lease r%2F1 100 400 1794996600000 1794960000 1793491200 0\n"
            "end 1\n");
}

TEST_F(LocalStoreTest, CreatesAMissingStateDir) {
  const std::string nested = dir_.path() + "/a/b";
  auto opened = LocalStore::open(clock_, LocalStoreOptions{nested, 1s});
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  ASSERT_EQ(admit(**opened, "t", "r", budget(10), Charge{Tokens{0}, NanoUsd{1}}).verdict, Verdict::admitted);
  ASSERT_TRUE((*opened)->flush().has_value());
  EXPECT_TRUE(std::filesystem::exists(nested + "/limits.state"));
}

TEST_F(LocalStoreTest, RestartKeepsSpendForAnyNames) {
  const std::vector<std::string> tenants = {"plain", "with space", "100%", "", "line\nbreak", "naïve~"};
  {
    auto store = open();
    for (const auto& tenant : tenants) {
      ASSERT_EQ(admit(*store, tenant, "id " + tenant, budget(1000), Charge{Tokens{0}, NanoUsd{100}}).verdict,
                Verdict::admitted);
      ASSERT_TRUE(settle(*store, tenant, "id " + tenant, budget(1000), NanoUsd{70}).settled);
    }
  }  // the destructor flushes
  auto store = open();
  for (const auto& tenant : tenants) {
    const auto used = usage(*store, tenant);
    EXPECT_EQ(used.daily.spent, NanoUsd{70}) << tenant;
    EXPECT_EQ(used.monthly.requests, 1) << tenant;
  }
}

TEST_F(LocalStoreTest, LiveReservationsAreChargedInFullAfterReopen) {
  config::Limits limits = budget(1000);
  limits.max_concurrent = 1;
  {
    auto store = open();
    ASSERT_EQ(admit(*store, "t", "live", limits, Charge{Tokens{0}, NanoUsd{400}}).verdict, Verdict::admitted);
  }
  {
    auto store = open();
    EXPECT_EQ(usage(*store, "t").daily.spent, NanoUsd{400});
    EXPECT_FALSE(settle(*store, "t", "live", limits, NanoUsd{1}).settled);
    EXPECT_EQ(admit(*store, "t", "next", limits, Charge{Tokens{0}, NanoUsd{600}}).verdict, Verdict::admitted);
  }
  // Charged once, not again at every open.
  auto store = open();
  EXPECT_EQ(usage(*store, "t").daily.spent, NanoUsd{1000});
  EXPECT_EQ(admit(*store, "t", "more", limits, Charge{Tokens{0}, NanoUsd{1}}).verdict, Verdict::budget_exceeded);
}

TEST_F(LocalStoreTest, ChargesLeasesFoundAtOpenEvenWithoutALaterWrite) {
  {
    auto store = open();
    ASSERT_EQ(admit(*store, "t", "live", budget(1000), Charge{Tokens{0}, NanoUsd{400}}).verdict, Verdict::admitted);
  }
  // A crash right after open (no flush): the file still holds the lease, and the next open
  // charges it, once.
  const std::string before = read_all(state_path());
  {
    auto store = open();
    EXPECT_EQ(usage(*store, "t").daily.spent, NanoUsd{400});
  }
  EXPECT_NE(read_all(state_path()), before);  // the charged state was written at close
  auto store = open();
  EXPECT_EQ(usage(*store, "t").daily.spent, NanoUsd{400});
}

TEST_F(LocalStoreTest, ACorruptFileIsAnErrorAndIsLeftAlone) {
  const std::string good =
      "tollgate-limits-state 1\n"
      "tenant t\n"
      "day 1794960000 1 0 0 0 400 0\n"
      "month 1793491200 1 0 0 0 400 0\n"
      "lease r 0 400 1794996600000 1794960000 1793491200 0\n"
      "end 1\n";
  write_all(state_path(), good);
  ASSERT_TRUE(try_open().has_value());  // the reference file is valid

  const std::vector<std::pair<std::string, std::string>> corrupt = {
      {"", "does not end with a newline"},
      {"garbage\n", "not a tollgate limits state file"},
      {"tollgate-limits-state 2\nend 0\n", "unsupported version"},
      {good.substr(0, good.size() - 6), "no end line"},             // truncated
      {good.substr(0, good.size() - 1), "does not end with a newline"},
      {"tollgate-limits-state 1\nend 2\n", "counts 2 tenants"},
      {"tollgate-limits-state 1\ntenant t\nday 1794960000 1 0 0 0 400 0\nend 1\n", "no month line"},
      {"tollgate-limits-state 1\ntenant t\nday 1794960000 x 0 0 0 0 0\n", "malformed day line"},
      {"tollgate-limits-state 1\ntenant t\nday 1794960000 -1 0 0 0 0 0\n", "malformed day line"},
      {"tollgate-limits-state 1\ntenant t\nday 1794960000 1 0 0 0 400 0\n"
       "month 1793491200 1 0 0 0 400 0\nend 1\n",
       "day reserved does not match its leases"},
      {"tollgate-limits-state 1\ntenant t\nrequests nan 5\n", "malformed requests line"},
      {"tollgate-limits-state 1\ntenant bad%2\n", "malformed tenant line"},
      {"tollgate-limits-state 1\nday 1 0 0 0 0 0 0\n", "outside a tenant"},
      {"tollgate-limits-state 1\nsurprise\n", "unknown line"},
      {"tollgate-limits-state 1\nend 0\nend 0\n", "after the end line"},
  };
  for (const auto& [text, why] : corrupt) {
    write_all(state_path(), text);
    const auto opened = try_open();
    ASSERT_FALSE(opened.has_value()) << text;
    EXPECT_EQ(opened.error().code, Error::limits_unavailable);
    EXPECT_NE(opened.error().message.find(state_path()), std::string::npos) << opened.error().message;
    EXPECT_NE(opened.error().message.find(why), std::string::npos) << opened.error().message;
    EXPECT_EQ(read_all(state_path()), text);  // never reset
  }
}

TEST_F(LocalStoreTest, ATornTempFileIsIgnored) {
  {
    auto store = open();
    ASSERT_EQ(admit(*store, "t", "r", budget(1000), Charge{Tokens{0}, NanoUsd{100}}).verdict, Verdict::admitted);
    ASSERT_TRUE(settle(*store, "t", "r", budget(1000), NanoUsd{100}).settled);
  }
  const std::string temp = dir_.path() + "/limits.state.tmp";
  write_all(temp, "tollgate-limits-state 1\ntenant t\nday 17949");  // a write cut by a crash
  auto store = open();
  EXPECT_EQ(usage(*store, "t").daily.spent, NanoUsd{100});
  EXPECT_FALSE(std::filesystem::exists(temp));
}

TEST_F(LocalStoreTest, AMissingFileIsAnEmptyState) {
  write_all(dir_.path() + "/limits.state.tmp", "partial");  // even beside a torn temp file
  auto store = open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(usage(*store, "t").daily.spent, NanoUsd{0});
}

TEST_F(LocalStoreTest, FlushWritesOnlyWhenSomethingChanged) {
  auto store = open();
  ASSERT_EQ(admit(*store, "t", "r", budget(1000), Charge{Tokens{0}, NanoUsd{100}}).verdict, Verdict::admitted);
  ASSERT_TRUE(store->flush().has_value());
  std::filesystem::remove(state_path());
  ASSERT_TRUE(store->flush().has_value());
  EXPECT_FALSE(std::filesystem::exists(state_path()));
  (void)usage(*store, "t");  // a read changes nothing
  ASSERT_TRUE(store->flush().has_value());
  EXPECT_FALSE(std::filesystem::exists(state_path()));

  ASSERT_TRUE(settle(*store, "t", "r", budget(1000), NanoUsd{100}).settled);
  ASSERT_TRUE(store->flush().has_value());
  EXPECT_TRUE(std::filesystem::exists(state_path()));
}

TEST_F(LocalStoreTest, TheBackgroundThreadWritesChanges) {
  auto store = open(20ms);
  ASSERT_EQ(admit(*store, "t", "r", budget(1000), Charge{Tokens{0}, NanoUsd{100}}).verdict, Verdict::admitted);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (read_all(state_path()).find("lease r ") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);  // polling with a deadline
  }
  EXPECT_NE(read_all(state_path()).find("lease r "), std::string::npos);
  EXPECT_EQ(store->flush_failures(), 0u);
}

TEST_F(LocalStoreTest, OneStatedirServesOneStore) {
  auto first = open();
  const auto second = try_open();
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code, Error::limits_unavailable);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
  first.reset();
  EXPECT_TRUE(try_open().has_value());
}

TEST_F(LocalStoreTest, MemoryOnlyWritesNothing) {
  auto opened = LocalStore::open(clock_, LocalStoreOptions{});
  ASSERT_TRUE(opened.has_value());
  ASSERT_EQ(admit(**opened, "t", "r", budget(1000), Charge{Tokens{0}, NanoUsd{100}}).verdict, Verdict::admitted);
  EXPECT_TRUE((*opened)->flush().has_value());
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path()));
}

TEST_F(LocalStoreTest, ALeaseExpiresAtAdmitTimePlusTtl) {
  auto store = open();
  config::Limits limits;
  limits.max_concurrent = 1;
  ASSERT_EQ(admit(*store, "t", "r1", limits, Charge{}, 10s).verdict, Verdict::admitted);
  clock_.advance(10s - 1ms);
  EXPECT_EQ(admit(*store, "t", "r2", limits, Charge{}).verdict, Verdict::rate_limited);
  clock_.advance(1ms);
  EXPECT_EQ(admit(*store, "t", "r2", limits, Charge{}).verdict, Verdict::admitted);
}

// ---- concurrency ----

// `threads` threads, each with its own io_context like a worker, admit `per_thread`
// requests each for one tenant; returns how many were admitted.
int admit_concurrently(LocalStore& store, const config::Limits& limits, Charge charge, int threads, int per_thread) {
  std::atomic<int> admitted{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      boost::asio::io_context io;
      for (int i = 0; i < per_thread; ++i) {
        AdmitRequest request;
        request.tenant = "shared";
        request.request_id = std::to_string(t) + "-" + std::to_string(i);
        request.limits = limits;
        request.charge = charge;
        if (run(io, store.admit(request)).verdict == Verdict::admitted) admitted.fetch_add(1);
        // Another tenant on the same store at the same time.
        request.tenant = "other-" + std::to_string(t);
        (void)run(io, store.admit(request));
      }
    });
  }
  for (auto& worker : workers) worker.join();
  return admitted.load();
}

TEST_F(LocalStoreTest, ConcurrentAdmissionsTakeExactlyTheLimit) {
  {
    auto store = open();
    config::Limits limits;
    limits.requests_per_day = 500;
    EXPECT_EQ(admit_concurrently(*store, limits, Charge{}, 4, 300), 500);
    EXPECT_EQ(usage(*store, "shared").daily.requests, 500);
  }
  {
    auto store = LocalStore::open(clock_, LocalStoreOptions{}).value();
    config::Limits limits;
    limits.max_concurrent = 37;
    EXPECT_EQ(admit_concurrently(*store, limits, Charge{}, 4, 100), 37);
  }
  {
    auto store = LocalStore::open(clock_, LocalStoreOptions{}).value();
    EXPECT_EQ(admit_concurrently(*store, budget(1000), Charge{Tokens{0}, NanoUsd{7}}, 4, 100), 142);
  }
  {
    auto store = LocalStore::open(clock_, LocalStoreOptions{}).value();
    config::Limits limits;
    limits.tokens_per_minute = 1000;
    EXPECT_EQ(admit_concurrently(*store, limits, Charge{Tokens{3}, NanoUsd{0}}, 4, 200), 333);
  }
}

// ---- windows ----

TEST(Windows, DayAndMonthBoundsInUtc) {
  using namespace std::chrono;
  const auto leap = sys_days(2028y / February / 29) + 23h + 59min + 59s + 999ms;
  EXPECT_EQ(day_window(leap).start, sys_seconds(sys_days(2028y / February / 29)));
  EXPECT_EQ(day_window(leap).resets_at, sys_seconds(sys_days(2028y / March / 1)));
  EXPECT_EQ(month_window(leap).start, sys_seconds(sys_days(2028y / February / 1)));
  EXPECT_EQ(month_window(leap).resets_at, sys_seconds(sys_days(2028y / March / 1)));
  const auto new_year = sys_days(2029y / January / 1) + 0s;
  EXPECT_EQ(day_window(new_year).start, sys_seconds(new_year));
  EXPECT_EQ(month_window(new_year).start, sys_seconds(new_year));
  EXPECT_EQ(month_window(new_year - 1s).resets_at, sys_seconds(new_year));
  EXPECT_EQ(month_window(new_year - 1s).start, sys_seconds(sys_days(2028y / December / 1)));
  EXPECT_EQ(window_name(BudgetWindow::daily), "daily");
  EXPECT_EQ(window_name(BudgetWindow::monthly), "monthly");
}

}  // namespace
}  // namespace tollgate::limits
