#pragma once
// HTTP stage: the interface a session calls for each complete request (the gateway
// implements it; the admin endpoints implement it too).
#include <boost/asio/awaitable.hpp>

#include "tollgate/http/message.hpp"
#include "tollgate/http/response_writer.hpp"

namespace tollgate::http {

class Handler {
 public:
  virtual ~Handler() = default;
  // Answers `request` through `out` exactly once. Runs on the connection's worker; `out`
  // outlives the call. Must not throw for anything a client can send.
  virtual boost::asio::awaitable<void> handle(Request request, ResponseWriter& out) = 0;
};

}  // namespace tollgate::http
