#include "stream_response.hpp"

#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "tollgate/core/log.hpp"

namespace tollgate::gateway {

namespace asio = boost::asio;

namespace {

// One per stream, in relay_stream's frame: lets the relay stop the disconnect watcher and wait
// until it has finished, so the watcher never outlives the exchange and writer it refers to.
struct DisconnectWatch {
  explicit DisconnectWatch(asio::any_io_executor executor) : finished(std::move(executor)) {
    finished.expires_at(asio::steady_timer::time_point::max());
  }
  asio::cancellation_signal stop;
  asio::steady_timer finished;  // expires (at min) when the watcher is done
  bool stopping = false;
  bool client_gone = false;
};

// Waits, for the whole stream, for the client to leave; then cancels the upstream read, which
// closes the provider connection at once. One watcher per stream rather than racing a wait
// against every upstream read: per-chunk cost stays one read and one write.
asio::awaitable<void> watch_disconnect(http::ResponseWriter& out, upstream::Exchange& exchange,
                                       DisconnectWatch& watch) {
  co_await out.wait_disconnect();
  if (watch.stopping) co_return;
  watch.client_gone = true;
  exchange.cancel();
}

}  // namespace

asio::awaitable<StreamResult> relay_stream(upstream::Exchange& exchange, http::ResponseWriter& out,
                                           http::Response head, stream::RelayOptions options,
                                           Tokens prompt_bound, StreamAllowance* allowance,
                                           const bool& stopping) {
  stream::Relay relay(options);
  StreamResult result{"completed", {}, std::nullopt};
  if (co_await out.start_stream(std::move(head))) {
    result.outcome = "client_disconnect";
    result.usage = relay.usage(prompt_bound);
    co_return result;
  }

  const auto executor = co_await asio::this_coro::executor;
  DisconnectWatch watch(executor);
  asio::co_spawn(executor, watch_disconnect(out, exchange, watch),
                 asio::bind_cancellation_slot(watch.stop.slot(), [&watch](std::exception_ptr error) {
                   if (error) log::error("disconnect watcher failed");
                   watch.finished.expires_at(asio::steady_timer::time_point::min());
                 }));

  std::string to_client;
  bool client_gone = false;
  while (!watch.client_gone) {
    // A reservation extension decides whether the next events are covered: wait for it.
    if (allowance != nullptr && allowance->extending()) co_await allowance->idle();
    auto piece = co_await exchange.read_some();
    if (watch.client_gone) {
      client_gone = true;
      break;
    }
    bool more = true;
    if (!piece && stopping) {
      relay.on_upstream_failure(fail(Error::shutting_down, "The gateway is shutting down; the stream ends here."),
                                to_client);
      more = false;
    } else if (!piece) {
      relay.on_upstream_failure(piece.error(), to_client);
      more = false;
    } else if (piece->empty()) {
      relay.on_upstream_end(to_client);
      more = false;
    } else {
      more = relay.on_upstream(*piece, to_client);
    }
    if (relay.content_started() && !result.first_token_at) result.first_token_at = std::chrono::steady_clock::now();
    if (!to_client.empty() && co_await out.write_chunk(to_client)) {
      client_gone = true;
      break;
    }
    if (!more) break;
  }
  client_gone = client_gone || watch.client_gone;
  if (!client_gone && co_await out.finish_stream()) client_gone = true;

  // Stop the watcher and wait for it: it refers to `out` and `exchange`, which the caller owns.
  watch.stopping = true;
  watch.stop.emit(asio::cancellation_type::terminal);
  co_await watch.finished.async_wait(asio::as_tuple(asio::use_awaitable));
  if (allowance != nullptr && allowance->extending()) co_await allowance->idle();

  result.outcome = client_gone          ? "client_disconnect"
                   : relay.cut_off()    ? "budget_cutoff"
                   : relay.upstream_reported_error() ? "upstream_error"
                                                     : "completed";
  result.usage = relay.usage(prompt_bound);
  co_return result;
}

}  // namespace tollgate::gateway
