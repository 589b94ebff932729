#pragma once
// Gateway: the request path, stage by stage (parse, authenticate, route, admit, forward, settle, emit).
// One Gateway per worker; it holds no logic of its own beyond the order of the stages.
#include <memory>

#include <boost/asio/awaitable.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/core/clock.hpp"
#include "tollgate/gateway/access_log.hpp"
#include "tollgate/http/handler.hpp"
#include "tollgate/limits/store_guard.hpp"
#include "tollgate/metrics/shard.hpp"
#include "tollgate/usage/sink.hpp"
#include "tollgate/upstream/client.hpp"

namespace tollgate::gateway {

class Gateway final : public http::Handler {
 public:
  // `upstream`, `limits`, `metrics` and `clock` belong to the worker, `sink` and `access_log`
  // to the process; all outlive the Gateway. `worker` is this worker's index (for their
  // per-worker hand-offs).
  Gateway(std::shared_ptr<const config::Config> config, upstream::Client& upstream, limits::StoreGuard& limits,
          usage::Sink& sink, AccessLog& access_log, metrics::Shard& metrics, std::size_t worker, const Clock& clock);

  // Installs a new snapshot for requests that start from now on; requests in flight keep the
  // one they started with. Call on this worker's thread.
  void set_config(std::shared_ptr<const config::Config> config) { config_ = std::move(config); }
  // The snapshot new requests use. Call on this worker's thread.
  const std::shared_ptr<const config::Config>& config() const { return config_; }

  boost::asio::awaitable<void> handle(http::Request request, http::ResponseWriter& out) override;

  // Shutdown past its grace period (SPEC section 2): ends every request still waiting on a
  // provider now. Streams get a final SSE error event and [DONE], other requests a 503
  // server_shutting_down; each is settled and emits its usage event as usual. Later requests
  // get the 503 without reaching a provider. Call on this worker's thread.
  void stop_in_flight();

 private:
  std::shared_ptr<const config::Config> config_;
  upstream::Client& upstream_;
  limits::StoreGuard& limits_;
  usage::Sink& sink_;
  AccessLog& access_log_;
  metrics::Shard& metrics_;
  std::size_t worker_;
  const Clock& clock_;
  bool stopping_ = false;
};

}  // namespace tollgate::gateway
