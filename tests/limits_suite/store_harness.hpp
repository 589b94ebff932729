#pragma once
// What the store behaviour suite (store_suite.cpp) needs from a store under test. The same
// suite runs against LocalStore (tests/unit/limits, ManualClock) and RedisStore
// (tests/integration, a real redis-server and real time): each provides a StoreHarness.
#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include "tollgate/limits/store.hpp"

namespace tollgate::testing {

class StoreHarness {
 public:
  virtual ~StoreHarness() = default;

  virtual limits::Store& store() = 0;
  // The io_context the store's awaitables run on (run() drives it).
  virtual boost::asio::io_context& io() = 0;
  // True when the store's time is a ManualClock moved only by advance(); false for real time
  // (advance() sleeps, and tests needing hours or calendar changes skip).
  virtual bool manual_time() const = 0;
  virtual void advance(std::chrono::milliseconds by) = 0;
  // Moves a manual clock to `at` (only when manual_time()).
  virtual void set_time(std::chrono::system_clock::time_point at) = 0;
  // The store's idea of now (ManualClock, or the system clock for Redis).
  virtual std::chrono::system_clock::time_point now() const = 0;
  // Simulates a restart of the process that owns the store (LocalStore: flush and reopen from
  // its state_dir). Returns false when the store has no process-local state to lose.
  virtual bool restart() = 0;

  // Runs `task` on io() until it completes and returns its result.
  template <class T>
  T run(boost::asio::awaitable<T> task) {
    auto future = boost::asio::co_spawn(io(), std::move(task), boost::asio::use_future);
    io().restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) io().run_one();
    return future.get();
  }
};

struct StoreParam {
  std::string name;  // gtest-safe: letters and digits only
  std::function<std::unique_ptr<StoreHarness>()> make;
};

inline void PrintTo(const StoreParam& param, std::ostream* os) { *os << param.name; }

inline std::string store_param_name(const ::testing::TestParamInfo<StoreParam>& info) { return info.param.name; }

// The suite's fixture; instantiate it with
//   INSTANTIATE_TEST_SUITE_P(Local, StoreBehaviour, ::testing::Values(StoreParam{...}), store_param_name);
// Each test gets a fresh harness and a tenant name no other test uses.
class StoreBehaviour : public ::testing::TestWithParam<StoreParam> {
 protected:
  void SetUp() override;
  std::unique_ptr<StoreHarness> harness;
  std::string tenant;  // unique per test (and per process run)
};

}  // namespace tollgate::testing
