#pragma once
// Forward stage: sends a request to a provider over HTTP/1.1 or HTTP/2 (TLS for https base
// URLs; h2 by ALPN, or h2c with prior knowledge, per the provider's `http2` mode) and reads its
// reply. One Client per worker: it owns that worker's connection pools (HTTP/1.1 keep-alive,
// and multiplexed HTTP/2 connections), is used only on the worker's thread, and is never shared.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"

namespace tollgate::upstream {

struct ClientOptions {
  std::size_t max_idle_per_origin = 64;
  // Pooled connections idle longer than this are closed instead of reused: providers close
  // idle keep-alive connections on their side and a POST must not land on a dead one. An
  // HTTP/2 connection with no stream for this long says GOAWAY and closes.
  std::chrono::seconds max_idle_age{30};
  // HTTP/2 connections per worker and origin. When every one is at the provider's
  // MAX_CONCURRENT_STREAMS a request waits for a free stream (within first_byte_timeout)
  // rather than opening more.
  std::size_t max_h2_connections_per_origin = 8;
};

class Connection;
class Client;
class H2Connection;
class H2Pool;
struct ConnectionCounts;

// One Client's connections to providers (tollgate_upstream_* in /metrics).
struct ClientStats {
  std::uint64_t http1_connections = 0;  // open now, idle or carrying a request
  std::uint64_t h2_connections = 0;     // open now
  std::uint64_t connects_total = 0;     // TCP connections established, both protocols
  std::uint64_t h2_goaways_total = 0;   // GOAWAY frames received
};

// One request/response with a provider, after the response head arrived: the body is read
// piece by piece as the provider sends it. Owned by one request on one worker.
class Exchange {
 public:
  // Returns the connection to its pool when the body was read to its end; otherwise closes it,
  // which is what cancels the request at the provider (client gone, error, cut-off). HTTP/2:
  // a stream still open is reset instead.
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  unsigned status() const;
  std::string_view content_type() const;

  // The next piece of the de-chunked body, as soon as any arrives; an empty view once the body
  // is complete. The view is valid until the next call. Errors: upstream_error (reset,
  // protocol error), upstream_timeout (nothing for stream_idle_timeout). Supports terminal
  // cancellation (e.g. by awaitable operator ||); the connection is then closed, not reused.
  boost::asio::awaitable<Result<std::string_view>> read_some();

  // Reads the rest of the body into one string (at most `max_bytes`).
  boost::asio::awaitable<Result<std::string>> read_all(std::size_t max_bytes);

  // Aborts a pending read_some (it fails promptly), makes every later read_some fail at once,
  // and makes sure the connection is closed, not reused (HTTP/2: the stream is reset with
  // RST_STREAM(CANCEL); the connection goes on carrying other streams). For a caller that
  // learns on another coroutine of the same worker that the client left.
  void cancel();

 private:
  friend class Client;
  struct State;
  explicit Exchange(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POSTs `body` (JSON) to provider.base_url.path + `path` and waits for the response head
  // (first_byte_timeout). The Exchange must not outlive this Client.
  // Errors: upstream_error (connect/TLS/reset/protocol failure, missing provider key),
  // upstream_timeout (nothing within first_byte_timeout). A provider's own error status is
  // a successful Exchange. Messages name the provider, never its key.
  boost::asio::awaitable<Result<std::unique_ptr<Exchange>>> send(const config::Provider& provider,
                                                                 std::string_view path, std::string body,
                                                                 std::string request_id);

  // Shutdown at the end of the grace period: closes every connection in use, which fails the
  // exchanges waiting on them at once (their requests end as upstream failures), drops the idle
  // pool, and makes every later send() fail without contacting the provider.
  void abort_all();

  // Read on this Client's worker thread.
  ClientStats stats() const;

 private:
  friend class Exchange;
  struct H2Pools;
  struct H2Slot;
  struct H2Attempt;
  // An idle pooled HTTP/1.1 connection, else a new one.
  boost::asio::awaitable<Result<std::unique_ptr<Connection>>> acquire(const config::Provider& provider);
  // Resolves, connects and (https) handshakes within connect_timeout, offering `alpn` (wire
  // format; empty: no ALPN).
  boost::asio::awaitable<Result<std::unique_ptr<Connection>>> dial(const config::Provider& provider,
                                                                   std::string_view alpn);
  bool wants_h2(const config::Provider& provider) const;
  // A stream slot on a pooled HTTP/2 connection (dialing one when needed), or an HTTP/1.1
  // connection when an `auto` provider answered ALPN with http/1.1 (or neither: use acquire()).
  boost::asio::awaitable<Result<H2Slot>> acquire_h2(const config::Provider& provider);
  // Dials and starts one HTTP/2 connection in `pool` and waits for the provider's SETTINGS.
  // Returns null when it is in the pool, or the connection when an `auto` provider chose
  // http/1.1 by ALPN.
  boost::asio::awaitable<Result<std::unique_ptr<Connection>>> open_h2(const config::Provider& provider, H2Pool& pool);
  boost::asio::awaitable<H2Attempt> send_h2(const config::Provider& provider, std::shared_ptr<H2Connection> conn,
                                            std::string target, std::string body, std::string request_id);
  void release(const config::Provider& provider, std::unique_ptr<Connection> connection);
  // The TLS context that trusts `ca_pem` (empty: the system store), built on first use.
  Result<boost::asio::ssl::context*> tls_context(const config::Provider& provider);

  boost::asio::any_io_executor executor_;
  ClientOptions options_;
  std::unordered_map<std::string, std::unique_ptr<boost::asio::ssl::context>> tls_by_ca_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  // Connections owned by exchanges (or being set up for one); they unlink themselves when
  // destroyed or pooled.
  struct InUse;
  std::unique_ptr<InUse> in_use_;
  std::unique_ptr<H2Pools> h2_;
  std::shared_ptr<ConnectionCounts> counts_;  // shared with every connection it dials
  bool aborted_ = false;
};

}  // namespace tollgate::upstream
