#pragma once
// Forward stage, private: one HTTP/2 connection to a provider (nghttp2 client session) that
// multiplexes many exchanges, and the per-worker pool of such connections per origin.
// Everything here runs on one worker's thread; nothing is shared across workers.
#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"
#include "connection.hpp"

namespace tollgate::upstream {

class H2Connection;

// The receive side of one request stream. Owned by its Exchange (or by send() until the
// response head arrives); the connection refers to it while it is attached and never after
// H2Connection::detach.
struct H2Stream {
  explicit H2Stream(boost::asio::any_io_executor executor) : signal(std::move(executor)) {}
  // Detaches from the connection, which resets the stream if it is still open.
  ~H2Stream();
  H2Stream(const H2Stream&) = delete;
  H2Stream& operator=(const H2Stream&) = delete;

  std::shared_ptr<H2Connection> connection;  // null until submitted
  std::int32_t id = -1;
  unsigned status = 0;
  std::string content_type;
  bool head_done = false;   // the final (non-1xx) response HEADERS arrived
  bool ended = false;       // END_STREAM from the provider: the body is complete
  bool closed = false;      // nghttp2 closed the stream (ended, reset, or connection lost)
  bool refused = false;     // never processed by the provider (GOAWAY, REFUSED_STREAM): safe to retry
  bool cancelled = false;   // we reset it (client gone)
  std::optional<std::string> failure;  // why the stream ended early, for the error message
  std::string pending;      // DATA received and not yet handed to the reader
  std::string delivered;    // the piece read_some returned last
  // Cancelled (never expires by itself during a wait) to wake the one coroutine waiting on
  // this stream; waits always re-check the state above.
  boost::asio::steady_timer signal;

  void wake() { signal.cancel(); }
};

// Shared by the pool, the connection's own read and write coroutines, and every exchange with a
// stream on it: the last one to let go frees it. (A shared_ptr on purpose: the connection has
// several owners with unrelated lifetimes, all on one thread.)
class H2Connection : public std::enable_shared_from_this<H2Connection> {
 public:
  // Takes a connected (and, for TLS, handshaken with ALPN h2) connection and starts the
  // session: the preface and SETTINGS go out, its read and write coroutines are spawned on
  // `executor`. `changed` is woken whenever a stream slot frees or the connection dies.
  static Result<std::shared_ptr<H2Connection>> start(boost::asio::any_io_executor executor,
                                                     std::unique_ptr<Connection> connection,
                                                     const config::Provider& provider,
                                                     boost::asio::steady_timer* changed,
                                                     std::chrono::seconds idle_close);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // True while new streams may go on this connection (no GOAWAY, not failed or closing).
  bool accepts_streams() const { return !dead_ && !goaway_; }
  bool dead() const { return dead_; }
  // The provider's first SETTINGS arrived: free_slots() knows its MAX_CONCURRENT_STREAMS.
  bool ready() const { return settings_received_; }
  // Streams that may still be opened: the provider's MAX_CONCURRENT_STREAMS minus open and
  // reserved ones; 0 until its SETTINGS arrive.
  std::size_t free_slots() const;
  // Holds a slot for a request about to be submitted (between acquire and submit).
  void reserve() { ++reserved_; }
  void unreserve() { --reserved_; }

  // Submits a POST on a reserved slot; `stream` must stay alive until detach().
  Result<void> submit(H2Stream& stream, std::vector<std::pair<std::string, std::string>> headers,
                      std::string body);
  // RST_STREAM(CANCEL) unless the stream already closed; the other streams go on.
  void cancel(H2Stream& stream);
  // The stream's owner is going away: cancel if still open, stop referring to it.
  void detach(H2Stream& stream);
  // The reader took `n` bytes of this stream: open that much flow-control window again.
  void consume(H2Stream& stream, std::size_t n);
  // Closes the socket at once and fails every open stream (shutdown, abort_all).
  void abort(std::string_view why);

 private:
  H2Connection(boost::asio::any_io_executor executor, std::unique_ptr<Connection> connection,
               const config::Provider& provider, boost::asio::steady_timer* changed,
               std::chrono::seconds idle_close);

  friend struct H2Callbacks;
  friend boost::asio::awaitable<void> h2_read_loop(std::shared_ptr<H2Connection> self);
  friend boost::asio::awaitable<void> h2_write_loop(std::shared_ptr<H2Connection> self);

  void kick_writer() { write_signal_.cancel(); }
  void notify_pool();
  void fail(std::string why);  // connection lost: every attached stream fails
  void uncount();              // out of the Client's connection counts (once)
  H2Stream* stream_of(std::int32_t id);

  // Per stream id: the request body nghttp2 reads from, and the attached reader (null once
  // detached). Owned here so nghttp2 never reads freed memory; erased when the stream closes.
  struct Slot {
    std::string body;
    std::size_t offset = 0;
    H2Stream* reader = nullptr;
  };

  boost::asio::any_io_executor executor_;
  std::unique_ptr<Connection> connection_;
  std::string provider_name_;
  boost::asio::steady_timer* changed_;  // the pool's; null once the pool is gone
  std::chrono::seconds idle_close_;
  std::chrono::milliseconds write_timeout_;
  // Keep-alive (h2_write_loop): a PING after ping_interval_ without a byte read, answered (any
  // byte) within ping_timeout_ or the connection fails.
  std::chrono::milliseconds ping_interval_;
  std::chrono::milliseconds ping_timeout_;
  std::chrono::steady_clock::time_point last_read_;
  std::optional<std::chrono::steady_clock::time_point> ping_sent_;  // unanswered so far
  nghttp2_session* session_ = nullptr;
  std::unordered_map<std::int32_t, Slot> slots_;
  std::size_t reserved_ = 0;
  bool goaway_ = false;
  bool dead_ = false;
  bool settings_received_ = false;
  boost::asio::steady_timer write_signal_;
  std::string out_;  // bytes taken from nghttp2, being written

  friend class H2Pool;
};

// The HTTP/2 connections of one worker to one origin.
class H2Pool {
 public:
  explicit H2Pool(boost::asio::any_io_executor executor) : changed(std::move(executor)) {
    changed.expires_at(boost::asio::steady_timer::time_point::max());
  }
  ~H2Pool();
  H2Pool(const H2Pool&) = delete;
  H2Pool& operator=(const H2Pool&) = delete;

  // The connection with a free slot (reserved for the caller), or null.
  std::shared_ptr<H2Connection> take_slot();
  void abort_all(std::string_view why);

  std::vector<std::shared_ptr<H2Connection>> connections;
  std::size_t connecting = 0;  // dials in flight
  std::size_t waiting = 0;     // requests waiting for a slot
  // Never expires; cancelled to wake every waiter when a slot frees, a connection comes up or
  // goes away. Waiters race it against their own deadline timer.
  boost::asio::steady_timer changed;
};

}  // namespace tollgate::upstream
