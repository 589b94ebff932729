#pragma once
// Server stage (admin listener): /healthz, /readyz and /metrics for operators and monitoring.
#include <functional>

#include "tollgate/http/handler.hpp"

namespace tollgate::server {

class AdminHandler final : public http::Handler {
 public:
  // Whether the gateway can serve (/readyz). Called on the admin worker's thread; reads
  // other workers' state only through atomics.
  using Readiness = std::function<bool()>;
  explicit AdminHandler(Readiness ready) : ready_(std::move(ready)) {}

  boost::asio::awaitable<void> handle(http::Request request, http::ResponseWriter& out) override;

 private:
  Readiness ready_;
};

}  // namespace tollgate::server
