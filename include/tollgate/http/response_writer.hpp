#pragma once
// HTTP stage: how the gateway answers the downstream client, independent of the protocol.
// Implemented by the HTTP/1.1 session (and later the HTTP/2 session).
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "tollgate/http/message.hpp"

namespace tollgate::http {

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;

  // Sends one complete response. Called at most once per request, on the connection's
  // worker thread. Fails only when the downstream connection is gone.
  virtual boost::asio::awaitable<boost::system::error_code> send(Response response) = 0;
};

}  // namespace tollgate::http
