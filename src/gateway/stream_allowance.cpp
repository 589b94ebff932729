#include "stream_allowance.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tollgate/core/log.hpp"
#include "tollgate/limits/charge.hpp"

namespace tollgate::gateway {

namespace asio = boost::asio;

namespace {

// Extensions grow the coverage by a quarter of the original allowance, at least this much,
// so a long stream needs few store round trips.
constexpr std::int64_t kMinStepTokens = 256;
// An extension starts when the uncovered rest is within this many of the largest events seen
// (or kMinHeadroom tokens): late enough that a provider honouring the allowance never needs
// one, early enough that the store answers before the coverage runs out.
constexpr std::int64_t kHeadroomEvents = 8;
constexpr std::int64_t kMinHeadroom = 16;
// A step the budget cannot cover is retried at half the size down to this, so a stream uses
// what is left of a budget before it is cut off.
constexpr std::int64_t kSmallestStep = 8;

}  // namespace

// Named coroutine (STYLE rule 2): `self` outlives it because the stream awaits idle().
// The co_await stays out of if-conditions: GCC 12 miscompiles `if (co_await ...)` in a loop.
asio::awaitable<void> extend_coverage(StreamAllowance& self, Tokens step) {
  bool covered = false;
  while (!covered) {
    covered = co_await self.reservation_.extend(limits::output_cost(self.model_, step));
    if (covered) {
      self.covered_ = self.covered_ + step;
    } else if (step.value <= kSmallestStep) {
      self.exhausted_ = true;
      break;
    } else {
      step = Tokens{std::max(kSmallestStep, step.value / 2)};
    }
  }
  self.pending_ = false;
  self.done_.cancel();
}

StreamAllowance::StreamAllowance(asio::any_io_executor executor, limits::Reservation& reservation,
                                 const config::Model& model, Tokens covered)
    : executor_(executor),
      reservation_(reservation),
      model_(model),
      covered_(covered),
      step_{std::max(kMinStepTokens, covered.value / 4)},
      done_(executor) {}

bool StreamAllowance::allow(Tokens output) {
  largest_event_ = std::max(largest_event_, output - last_output_);
  last_output_ = output;
  // The next event may be as large as the largest seen so far: it must still be covered.
  const bool next_fits = output + largest_event_ <= covered_;
  const Tokens headroom{std::max(kMinHeadroom, kHeadroomEvents * largest_event_.value)};
  if (!pending_ && !exhausted_ && covered_ - output < headroom) start_extension();
  return next_fits;
}

void StreamAllowance::start_extension() {
  pending_ = true;
  asio::co_spawn(executor_, extend_coverage(*this, step_), [this](std::exception_ptr error) {
    if (!error) return;
    log::error("stream reservation extension failed");
    pending_ = false;
    exhausted_ = true;
    done_.cancel();
  });
}

asio::awaitable<void> StreamAllowance::idle() {
  while (pending_) {
    done_.expires_at(asio::steady_timer::time_point::max());
    co_await done_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace tollgate::gateway
