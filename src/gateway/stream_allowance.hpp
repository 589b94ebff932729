#pragma once
// Relay stage meets admission: a stream's completion allowance as a stream::StreamBudget.
// The relay asks after every content event; this grows the reservation ahead of the output,
// in steps, so a stream never delivers tokens its reservation does not cover. When the budget
// cannot cover the next step, the stream is cut off before it could outrun the reservation.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/limits/store_guard.hpp"
#include "tollgate/stream/relay.hpp"

namespace tollgate::gateway {

class StreamAllowance final : public stream::StreamBudget {
 public:
  // `reservation` belongs to the request and outlives this object; `covered` is the completion
  // allowance the reservation already pays for.
  StreamAllowance(boost::asio::any_io_executor executor, limits::Reservation& reservation,
                  const config::Model& model, Tokens covered);

  // Synchronous (the relay is pure): answers from what is covered now, and starts an extension
  // in the background when the output comes within one step of the end of the coverage.
  bool allow(Tokens output) override;

  // Completes when no extension is in flight. The stream loop awaits it before each upstream
  // read and before settling, so an extension never outlives the request.
  boost::asio::awaitable<void> idle();

  bool extending() const { return pending_; }
  Tokens covered() const { return covered_; }

 private:
  friend boost::asio::awaitable<void> extend_coverage(StreamAllowance& self, Tokens step);
  void start_extension();

  boost::asio::any_io_executor executor_;
  limits::Reservation& reservation_;
  const config::Model& model_;
  Tokens covered_;
  Tokens step_;
  Tokens last_output_;
  Tokens largest_event_;
  bool pending_ = false;
  bool exhausted_ = false;
  boost::asio::steady_timer done_;  // cancelled when a pending extension completes
};

}  // namespace tollgate::gateway
