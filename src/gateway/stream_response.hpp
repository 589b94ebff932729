#pragma once
// Gateway (relay stage): streams an upstream SSE body to the client through stream::Relay,
// with backpressure (the next upstream read waits for the client write) and prompt
// cancellation (a client that leaves closes the upstream request at once).
#include <chrono>
#include <optional>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "stream_allowance.hpp"
#include "tollgate/http/response_writer.hpp"
#include "tollgate/stream/relay.hpp"
#include "tollgate/upstream/client.hpp"

namespace tollgate::gateway {

struct StreamResult {
  std::string_view outcome;  // completed | client_disconnect | upstream_error | budget_cutoff
  stream::StreamUsage usage;
  std::optional<std::chrono::steady_clock::time_point> first_token_at;
};

// Sends `head` and relays `exchange`'s body until it ends, fails, is cut off or the client leaves.
// `exchange`, `out` and `allowance` (null: no budget) belong to the calling request and outlive
// this call; when `allowance` is given it is options.budget, and no extension is still in
// flight when this returns. `stopping` (the gateway's flag, read when the upstream fails) turns
// the final error event into server_shutting_down.
boost::asio::awaitable<StreamResult> relay_stream(upstream::Exchange& exchange, http::ResponseWriter& out,
                                                  http::Response head, stream::RelayOptions options,
                                                  Tokens prompt_bound, StreamAllowance* allowance,
                                                  const bool& stopping);

}  // namespace tollgate::gateway
