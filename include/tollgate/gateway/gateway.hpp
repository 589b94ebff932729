#pragma once
// Gateway: the request path, stage by stage (parse, authenticate, route, admit, forward, settle, emit).
// One Gateway per worker; it holds no logic of its own beyond the order of the stages.
#include <memory>

#include <boost/asio/awaitable.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/core/clock.hpp"
#include "tollgate/http/handler.hpp"
#include "tollgate/limits/store_guard.hpp"
#include "tollgate/usage/sink.hpp"
#include "tollgate/upstream/client.hpp"

namespace tollgate::gateway {

class Gateway final : public http::Handler {
 public:
  // `upstream`, `limits` and `clock` belong to the worker, `sink` to the process; all outlive
  // the Gateway. `worker` is this worker's index (for the sink's per-worker hand-off).
  Gateway(std::shared_ptr<const config::Config> config, upstream::Client& upstream, limits::StoreGuard& limits,
          usage::Sink& sink, std::size_t worker, const Clock& clock);

  // Installs a new snapshot for requests that start from now on; requests in flight keep the
  // one they started with. Call on this worker's thread.
  void set_config(std::shared_ptr<const config::Config> config) { config_ = std::move(config); }

  boost::asio::awaitable<void> handle(http::Request request, http::ResponseWriter& out) override;

 private:
  std::shared_ptr<const config::Config> config_;
  upstream::Client& upstream_;
  limits::StoreGuard& limits_;
  usage::Sink& sink_;
  std::size_t worker_;
  const Clock& clock_;
};

}  // namespace tollgate::gateway
