#pragma once
// A Clock that only moves when a test says so.
#include <atomic>
#include <chrono>

#include "tollgate/core/clock.hpp"

namespace tollgate::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start) : now_(start) {}
  std::chrono::system_clock::time_point now() const override { return now_.load(); }
  void set(std::chrono::system_clock::time_point t) { now_.store(t); }
  void advance(std::chrono::system_clock::duration d) { now_.store(now_.load() + d); }

 private:
  std::atomic<std::chrono::system_clock::time_point> now_;
};

}  // namespace tollgate::testing
