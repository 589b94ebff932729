// The store behaviour suite (tests/limits_suite) on RedisStore: one real redis-server for the
// whole binary, real time (advance() sleeps; calendar tests skip), each test its own tenant.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "limits_suite/store_harness.hpp"
#include "redis_server.hpp"
#include "tollgate/limits/redis_store.hpp"

namespace tollgate::testing {
namespace {

using namespace std::chrono_literals;

RedisServer& shared_server() {
  static RedisServer server;  // killed at exit, by its PID
  return server;
}

class RedisHarness final : public StoreHarness {
 public:
  RedisHarness()
      // The suite is about semantics: a generous deadline keeps it stable on loaded machines.
      : store_(io_.get_executor(), limits::RedisStoreOptions{shared_server().url(), 1000ms, std::nullopt}) {
    // Tenants are unique per test and per process; an empty database also keeps
    // --gtest_repeat (same process, same tenant names) meaningful.
    shared_server().command({"FLUSHDB"});
    store_.start();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!store_.ready()) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("RedisStore never became ready");
      io_.run_one_for(10ms);
    }
  }
  ~RedisHarness() override {
    store_.stop();
    io_.restart();
    io_.poll();
  }

  limits::Store& store() override { return store_; }
  boost::asio::io_context& io() override { return io_; }
  bool manual_time() const override { return false; }
  void advance(std::chrono::milliseconds by) override { std::this_thread::sleep_for(by); }
  void set_time(std::chrono::system_clock::time_point) override {
    throw std::logic_error("RedisStore runs on Redis's clock");
  }
  std::chrono::system_clock::time_point now() const override { return std::chrono::system_clock::now(); }
  bool restart() override { return false; }  // all state lives in Redis

 private:
  boost::asio::io_context io_;  // outlives the store and the frames it parks
  limits::RedisStore store_;
};

INSTANTIATE_TEST_SUITE_P(Redis, StoreBehaviour,
                         ::testing::Values(StoreParam{"Redis", [] { return std::make_unique<RedisHarness>(); }}),
                         store_param_name);

}  // namespace
}  // namespace tollgate::testing
