#pragma once
// Server stage (admin listener): /healthz, /readyz and /metrics for operators and monitoring.
#include "tollgate/http/handler.hpp"

namespace tollgate::server {

class AdminHandler final : public http::Handler {
 public:
  boost::asio::awaitable<void> handle(http::Request request, http::ResponseWriter& out) override;
};

}  // namespace tollgate::server
