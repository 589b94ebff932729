#include "admin_handler.hpp"

#include "tollgate/core/request_id.hpp"

namespace tollgate::server {

namespace bhttp = boost::beast::http;

boost::asio::awaitable<void> AdminHandler::handle(http::Request request, http::ResponseWriter& out) {
  const auto path = http::path_of(request.target());
  http::Response response{bhttp::status::ok, 11};
  response.set("x-request-id", next_request_id());
  response.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
    response.result(bhttp::status::method_not_allowed);
    response.body() = "method not allowed\n";
  } else if (path == "/healthz") {
    response.body() = "ok\n";
  } else if (path == "/readyz") {
    // The configuration is loaded (the server does not start without one), the limits store
    // answers and the usage sink can accept events.
    if (ready_()) {
      response.body() = "ready\n";
    } else {
      response.result(bhttp::status::service_unavailable);
      response.body() = "not ready: the limits store or the usage sink is unavailable\n";
    }
  } else if (path == "/metrics") {
    response.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = co_await metrics_();
  } else {
    response.result(bhttp::status::not_found);
    response.body() = "not found\n";
  }
  co_await out.send(std::move(response));
}

}  // namespace tollgate::server
