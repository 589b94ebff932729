#pragma once
// HTTP stage: how the gateway answers the downstream client, independent of the protocol.
// Implemented by the HTTP/1.1 session (and later the HTTP/2 session).
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "tollgate/http/message.hpp"

namespace tollgate::http {

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // Sends one complete response. Called at most once per request, instead of the streaming
  // calls below, on the connection's worker thread. Fails only when the client is gone.
  virtual boost::asio::awaitable<boost::system::error_code> send(Response response) = 0;

  // Streaming: start_stream sends the head (its body is ignored), write_chunk sends bytes to the
  // client as they are (each is flushed before it completes: no coalescing delay), finish_stream
  // ends the response. Each completes when the bytes are handed to the kernel, so a slow client
  // slows its caller (backpressure). An error means the client is gone.
  virtual boost::asio::awaitable<boost::system::error_code> start_stream(Response head) = 0;
  virtual boost::asio::awaitable<boost::system::error_code> write_chunk(std::string_view bytes) = 0;
  virtual boost::asio::awaitable<boost::system::error_code> finish_stream() = 0;

  // Completes when the client closes its connection. Supports terminal cancellation (use it
  // with awaitable operator ||) and never completes on its own while the client stays.
  virtual boost::asio::awaitable<void> wait_disconnect() = 0;
};

}  // namespace tollgate::http
