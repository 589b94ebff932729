#pragma once
// HTTP stage: one downstream HTTP/1.1 connection (Beast), from accept to close.
#include <chrono>
#include <cstddef>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "tollgate/http/handler.hpp"

namespace tollgate::metrics {
class Shard;
}

namespace tollgate::http {

struct SessionOptions {
  std::size_t max_header_bytes = 61'440;
  std::size_t max_header_fields = 100;
  std::size_t max_body_bytes = 4'194'304;
  // The first request head must arrive within header_timeout of accept. Between requests on
  // a kept-alive connection the client may stay silent for idle_timeout; once its first byte
  // arrives, the rest of the head must follow within header_timeout (slowloris bound).
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{75'000};
  // Bound on reading a request body and on writing a response to a stalled client.
  std::chrono::milliseconds io_timeout{75'000};
};

// Per-worker counters the server uses to drain on shutdown. Touched only on the worker thread.
struct SessionTracker {
  std::size_t active_requests = 0;
  bool draining = false;  // when set, responses close their connection
  // Where requests refused before reaching the handler (malformed, too large) are counted;
  // null: not counted (the admin listener).
  metrics::Shard* metrics = nullptr;
};

// Serves requests on `socket` until the client closes, a deadline passes, or the tracker
// drains. `handler` and `tracker` belong to the worker and outlive every session on it.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, SessionOptions options,
                                         Handler& handler, SessionTracker& tracker);

}  // namespace tollgate::http
