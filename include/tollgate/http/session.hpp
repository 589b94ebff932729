#pragma once
// HTTP stage: one downstream connection from accept to close: HTTP/1.1 (Beast) or HTTP/2
// (nghttp2, h2c with prior knowledge on the plain listener, h2 via ALPN over TLS).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "tollgate/http/handler.hpp"
#include "tollgate/http/http2_limits.hpp"

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
  // HTTP/2: an idle connection (no open stream) closes after idle_timeout; a stream's head must
  // complete within header_timeout of its HEADERS frame, its body within io_timeout.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{75'000};
  // Bound on reading a request body and on writing a response to a stalled client (HTTP/2: a
  // stream whose flow-control window stays shut this long is reset).
  std::chrono::milliseconds io_timeout{75'000};
  Http2Limits http2;
};

// Per-worker counters the server uses to drain on shutdown. Touched only on the worker thread.
struct SessionTracker {
  std::size_t active_requests = 0;
  bool draining = false;  // when set, responses close their connection (HTTP/2: GOAWAY)
  // Where requests refused before reaching the handler (malformed, too large) are counted;
  // null: not counted (the admin listener).
  metrics::Shard* metrics = nullptr;
  // HTTP/2 connections closed by a protection, indexed by Http2Protection.
  std::uint64_t h2_closes[kHttp2ProtectionCount] = {};
};

// Serves requests on `socket` until the client closes, a deadline passes, or the tracker
// drains. A connection that opens with the HTTP/2 client preface is served as h2c (prior
// knowledge); any other as HTTP/1.1. `handler` and `tracker` belong to the worker and outlive
// every session on it.
boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket, SessionOptions options,
                                         Handler& handler, SessionTracker& tracker);

// The same over TLS: the handshake must finish within options.header_timeout; ALPN `h2`
// selects HTTP/2, anything else (or no ALPN) HTTP/1.1. `tls` is configured by
// configure_server_tls and outlives the session.
boost::asio::awaitable<void> run_tls_session(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                                             SessionOptions options, Handler& handler, SessionTracker& tracker);

// Makes `tls` a server context for the API listener: TLS 1.2+, certificate chain and key from
// PEM files, ALPN selecting h2 (when offered) else http/1.1. Throws std::runtime_error naming
// the file and OpenSSL's reason when the certificate or key cannot be loaded.
void configure_server_tls(boost::asio::ssl::context& tls, const std::string& cert_file, const std::string& key_file);

}  // namespace tollgate::http
