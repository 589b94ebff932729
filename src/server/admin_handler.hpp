#pragma once
// Server stage (admin listener): /healthz, /readyz and /metrics for operators and monitoring.
#include <functional>
#include <string>

#include "tollgate/http/handler.hpp"

namespace tollgate::server {

class AdminHandler final : public http::Handler {
 public:
  // Whether the gateway can serve (/readyz). Called on the admin worker's thread; reads
  // other workers' state only through atomics.
  using Readiness = std::function<bool()>;
  // The /metrics body (Prometheus text format), rendered at scrape time on the admin thread.
  using MetricsPage = std::function<boost::asio::awaitable<std::string>()>;
  AdminHandler(Readiness ready, MetricsPage metrics) : ready_(std::move(ready)), metrics_(std::move(metrics)) {}

  boost::asio::awaitable<void> handle(http::Request request, http::ResponseWriter& out) override;

 private:
  Readiness ready_;
  MetricsPage metrics_;
};

}  // namespace tollgate::server
