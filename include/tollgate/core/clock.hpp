#pragma once
// Wall-clock time behind an interface so tests can inject time (limits windows, key expiry).
#include <chrono>

namespace tollgate {

class Clock {
 public:
  virtual ~Clock() = default;
  // Thread-safe; never blocks.
  virtual std::chrono::system_clock::time_point now() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
};

}  // namespace tollgate
