#include "stream_response.hpp"

#include <string>
#include <variant>

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace tollgate::gateway {

namespace asio = boost::asio;

asio::awaitable<StreamResult> relay_stream(upstream::Exchange& exchange, http::ResponseWriter& out,
                                           http::Response head, stream::RelayOptions options,
                                           Tokens prompt_bound) {
  using namespace asio::experimental::awaitable_operators;
  stream::Relay relay(options);
  StreamResult result{"completed", {}, std::nullopt};
  auto finish = [&](std::string_view outcome) {
    result.outcome = outcome;
    result.usage = relay.usage(prompt_bound);
  };

  if (co_await out.start_stream(std::move(head))) {
    finish("client_disconnect");
    co_return result;
  }
  std::string to_client;
  for (;;) {
    // Whichever comes first: upstream bytes, or the client leaving (which cancels the read;
    // the exchange then closes its connection, ending the request at the provider).
    auto next = co_await (exchange.read_some() || out.wait_disconnect());
    if (next.index() == 1) {
      finish("client_disconnect");
      co_return result;
    }
    auto& piece = std::get<0>(next);
    bool more = true;
    if (!piece) {
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
      finish("client_disconnect");
      co_return result;
    }
    if (!more) break;
  }
  if (co_await out.finish_stream()) {
    finish("client_disconnect");
    co_return result;
  }
  finish(relay.cut_off() ? "budget_cutoff" : relay.upstream_reported_error() ? "upstream_error" : "completed");
  co_return result;
}

}  // namespace tollgate::gateway
