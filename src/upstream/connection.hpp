#pragma once
// Forward stage, private: one upstream TCP (or TLS) connection as the client dials it, before it
// carries HTTP/1.1 exchanges (client.cpp) or an HTTP/2 session (h2_connection.cpp).
#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/intrusive/list.hpp>

namespace tollgate::upstream {

// The connections of one Client (one worker), for /metrics; touched on that worker's thread
// only. Shared with every connection, which may outlive its Client by a moment at shutdown.
struct ConnectionCounts {
  std::uint64_t open = 0;        // Connections not yet closed for good, both protocols
  std::uint64_t h2_open = 0;     // of those, carrying an HTTP/2 session
  std::uint64_t connects = 0;    // TCP connections established, ever
  std::uint64_t h2_goaways = 0;  // GOAWAY frames received from providers, ever
};

// One upstream connection, plain or TLS, with its read buffer. For HTTP/1.1: owned by one
// request at a time (and then linked into its Client's in-use list, for abort_all), or parked
// in its Client's idle pool. For HTTP/2 it is moved into an H2Connection.
class Connection : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  std::unique_ptr<boost::beast::tcp_stream> plain;
  std::unique_ptr<boost::beast::ssl_stream<boost::beast::tcp_stream>> tls;
  boost::beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since{};
  std::shared_ptr<ConnectionCounts> counts;  // counted in `open` while set

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { uncount(); }

  // Leaves `open` (once): at destruction, or as soon as the socket is closed for good.
  void uncount() {
    if (counts) --counts->open;
    counts.reset();
  }

  boost::beast::tcp_stream& tcp() { return tls ? boost::beast::get_lowest_layer(*tls) : *plain; }
};

}  // namespace tollgate::upstream
