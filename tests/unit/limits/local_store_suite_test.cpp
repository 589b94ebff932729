// The store behaviour suite on LocalStore: persisted (restart reopens its state_dir) and
// memory only, both on a manual clock.
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "fakes/manual_clock.hpp"
#include "limits_suite/store_harness.hpp"
#include "support/temp_dir.hpp"
#include "tollgate/limits/local_store.hpp"

namespace tollgate::testing {
namespace {

using namespace std::chrono_literals;

// A weekday in the middle of a month: no test crosses a window by accident.
const std::chrono::system_clock::time_point kStart =
    std::chrono::sys_days(std::chrono::year(2026) / std::chrono::November / 18) + 10h;

class LocalHarness final : public StoreHarness {
 public:
  explicit LocalHarness(bool persisted) : clock_(kStart), persisted_(persisted) { open(); }

  limits::Store& store() override { return *store_; }
  boost::asio::io_context& io() override { return io_; }
  bool manual_time() const override { return true; }
  void advance(std::chrono::milliseconds by) override { clock_.advance(by); }
  void set_time(std::chrono::system_clock::time_point at) override { clock_.set(at); }
  std::chrono::system_clock::time_point now() const override { return clock_.now(); }
  bool restart() override {
    if (!persisted_) return false;
    store_.reset();  // flushes
    open();
    return true;
  }

 private:
  void open() {
    limits::LocalStoreOptions options;
    if (persisted_) options.state_dir = dir_.path();
    auto opened = limits::LocalStore::open(clock_, options);
    if (!opened) throw std::runtime_error(opened.error().message);
    store_ = std::move(*opened);
  }

  ManualClock clock_;
  bool persisted_;
  boost::asio::io_context io_;
  TempDir dir_;
  std::unique_ptr<limits::LocalStore> store_;  // destroyed first: it flushes into dir_
};

INSTANTIATE_TEST_SUITE_P(
    Local, StoreBehaviour,
    ::testing::Values(StoreParam{"Persisted", [] { return std::make_unique<LocalHarness>(true); }},
                      StoreParam{"MemoryOnly", [] { return std::make_unique<LocalHarness>(false); }}),
    store_param_name);

}  // namespace
}  // namespace tollgate::testing
