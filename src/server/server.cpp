#include "tollgate/server/server.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "admin_handler.hpp"
#include "config_watch.hpp"
#include "restart_required.hpp"
#include "listener.hpp"
#include "tollgate/core/log.hpp"
#include "tollgate/gateway/gateway.hpp"
#include "tollgate/http/session.hpp"
#include "tollgate/limits/local_store.hpp"
#include "tollgate/limits/redis_store.hpp"
#include "tollgate/limits/store_guard.hpp"
#include "tollgate/metrics/shard.hpp"
#include "tollgate/metrics/text_format.hpp"
#include "tollgate/upstream/client.hpp"
#include "tollgate/usage/event.hpp"
#include "tollgate/usage/open_sink.hpp"

namespace tollgate::server {

namespace asio = boost::asio;
using asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// How long start-up waits for the limits store's connections before announcing "listening".
constexpr std::chrono::seconds kStoreConnectWait{3};

namespace {

// A worker's event loop. abandon() destroys the handlers still pending after a stop (the
// coroutine frames of requests that did not end in time) while the objects they refer to are
// still alive; the io_context destructor would do it only after the worker's members are gone.
class WorkerLoop : public asio::io_context {
 public:
  WorkerLoop() : asio::io_context(1) {}
  void abandon() { shutdown(); }
};

// One worker: one thread, one io_context, its own acceptor, upstream pools, limits store
// connection and gateway. Member order matters: `io` is destroyed after the sockets that need
// its services (acceptors, pools, the Redis connection); the destructor first abandons the
// coroutine frames still parked on it, while everything they refer to is alive.
struct Worker {
  // `shared` is the process's LocalStore: the limits store itself when limits.store is local,
  // else the per-instance buckets on_store_error falls back to.
  // `sink` and `access_log` are the process's; `index` is this worker's number for their hand-offs.
  Worker(std::shared_ptr<const config::Config> config, const Clock& clock, limits::Store& shared,
         usage::Sink& sink, gateway::AccessLog& access_log, std::size_t index, AdminHandler::Readiness readiness,
         AdminHandler::MetricsPage metrics_page)
      : admin(std::move(readiness), std::move(metrics_page)),
        upstream(std::make_unique<upstream::Client>(io.get_executor())) {
    if (config->limits.store == config::StoreKind::redis) {
      redis = std::make_unique<limits::RedisStore>(
          io.get_executor(), limits::RedisStoreOptions{config->limits.redis_url, config->limits.redis_timeout,
                                                       config->limits.redis_password});
    }
    guard = std::make_unique<limits::StoreGuard>(io.get_executor(), redis ? *redis : shared, shared,
                                                 alert_emitter(sink, index, config->usage.format));
    gateway = std::make_unique<gateway::Gateway>(std::move(config), *upstream, *guard, sink, access_log, metrics,
                                                 index, clock);
    api_tracker.metrics = &metrics;
  }

  ~Worker() {
    api_acceptor.reset();
    admin_acceptor.reset();
    io.abandon();
  }

  // Budget alerts become budget_alert events (SPEC section 6) on the usage sink.
  static limits::AlertHandler alert_emitter(usage::Sink& sink, std::size_t index, config::EventFormat format) {
    return [&sink, index, format](std::string_view tenant, const limits::BudgetAlert& alert) {
      const auto window = alert.window == limits::BudgetWindow::daily ? limits::day_window(alert.window_start)
                                                                      : limits::month_window(alert.window_start);
      const usage::BudgetAlertEvent event{tenant,      limits::window_name(alert.window), alert.threshold,
                                          alert.limit, alert.spent,                       window.resets_at};
      sink.emit(index, usage::to_record(event, format, std::chrono::system_clock::now()));
    };
  }

  metrics::Shard metrics;  // this worker's request metrics; touched only on its thread
  // API connections open on this worker: counted up by the worker that accepted the connection,
  // down by this one when it ends (once per connection, never per request).
  std::atomic<std::size_t> open_connections{0};
  std::atomic<std::size_t> admin_connections{0};  // the admin listener's (first worker only)
  http::SessionTracker api_tracker;
  http::SessionTracker admin_tracker;
  AdminHandler admin;
  WorkerLoop io;
  std::unique_ptr<upstream::Client> upstream;
  std::unique_ptr<limits::RedisStore> redis;
  std::unique_ptr<limits::StoreGuard> guard;
  std::unique_ptr<gateway::Gateway> gateway;
  std::optional<tcp::acceptor> api_acceptor;
  std::optional<tcp::acceptor> admin_acceptor;
  std::thread thread;
};

http::SessionOptions session_options(const config::ServerConfig& server) {
  http::SessionOptions options;
  options.max_header_bytes = server.max_header_bytes;
  options.max_header_fields = server.max_header_fields;
  options.max_body_bytes = server.max_body_bytes;
  options.header_timeout = server.header_timeout;
  options.idle_timeout = server.idle_timeout;
  options.io_timeout = server.idle_timeout;
  options.http2 = server.http2;
  return options;
}

auto log_failure(std::string_view what) {
  return [what](std::exception_ptr error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      log::error("coroutine failed", {{"where", what}, {"error", e.what()}});
    }
  };
}

// A worker a connection can be served on.
struct ConnectionTarget {
  asio::any_io_executor executor;
  http::Handler* handler;
  http::SessionTracker* tracker;
  std::atomic<std::size_t>* open;  // the worker's open_connections
};

// The worker with the fewest open connections; `self` (the accepting worker) on a tie, so a
// connection stays on the thread that accepted it unless another worker has fewer.
ConnectionTarget& least_loaded(std::vector<ConnectionTarget>& targets, std::size_t self) {
  std::size_t best = self;
  std::size_t fewest = targets[self].open->load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const std::size_t open = targets[i].open->load(std::memory_order_relaxed);
    if (open < fewest) {
      best = i;
      fewest = open;
    }
  }
  return targets[best];
}

// `socket`, accepted on another worker's event loop, as a socket of `executor`'s: the descriptor
// is released from the one and assigned to the other (a socket object belongs to one
// io_context for life). Fails only if the descriptor cannot be registered; it is closed then.
std::optional<tcp::socket> hand_over(tcp::socket socket, const asio::any_io_executor& executor) {
  if (socket.get_executor() == executor) return socket;
  boost::system::error_code ec;
  const auto protocol = socket.local_endpoint(ec).protocol();
  if (ec) return std::nullopt;
  const int fd = socket.release(ec);
  if (ec) return std::nullopt;
  tcp::socket moved(executor);
  moved.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return std::nullopt;
  }
  return moved;
}

// Accepts until the acceptor is closed. Every worker accepts on its own SO_REUSEPORT acceptor,
// but the kernel's hash split 64 connections anywhere from 32/32 to 24/40 between two workers,
// and the busier one then set the pace (throughput varied by a third between identical runs):
// each connection is therefore served by the worker with the fewest open connections, the
// accepting one on a tie. The accept itself stays on the acceptor's own event loop, so no
// pending operation ever holds a socket of another worker's (whose services may be gone when
// this one's leftovers are destroyed at shutdown). `targets` are every worker's (one for the
// admin listener); `tls` (the process's server context, shared read-only by the workers) is
// null for plain TCP.
asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, http::SessionOptions options,
                                  std::vector<ConnectionTarget> targets, std::size_t self, asio::ssl::context* tls) {
  asio::steady_timer backoff(acceptor.get_executor());
  while (acceptor.is_open()) {
    auto [ec, accepted] = co_await acceptor.async_accept(kAsTuple);
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning; the listener stays up.
      log::warn("accept failed", {{"error", ec.message()}});
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(kAsTuple);
      continue;
    }
    ConnectionTarget& target = least_loaded(targets, self);
    auto handed = hand_over(std::move(accepted), target.executor);
    if (!handed) {
      log::warn("accepted connection could not be handed to a worker; closed");
      continue;
    }
    tcp::socket socket = std::move(*handed);
    target.open->fetch_add(1, std::memory_order_relaxed);
    auto ended = [open = target.open, logged = log_failure(tls != nullptr ? "https session" : "http session")](
                     std::exception_ptr error) {
      open->fetch_sub(1, std::memory_order_relaxed);
      logged(error);
    };
    if (tls != nullptr) {
      asio::co_spawn(target.executor,
                     http::run_tls_session(std::move(socket), *tls, options, *target.handler, *target.tracker),
                     std::move(ended));
    } else {
      asio::co_spawn(target.executor, http::run_session(std::move(socket), options, *target.handler, *target.tracker),
                     std::move(ended));
    }
  }
}

// How long requests stopped at the end of the grace period get to write their final event,
// settle and emit before the worker stops regardless.
constexpr std::chrono::seconds kStopWait{5};

// Polls until the worker's requests and their settles are done, or `deadline`.
asio::awaitable<bool> wait_idle(Worker& worker, std::chrono::steady_clock::time_point deadline) {
  asio::steady_timer poll(worker.io);
  for (;;) {
    const bool idle = worker.api_tracker.active_requests == 0 && worker.guard->pending() == 0;
    if (idle) co_return true;
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    poll.expires_after(std::chrono::milliseconds(10));
    co_await poll.async_wait(kAsTuple);
  }
}

// Stops the worker once its in-flight requests and their settles are done. Past the grace
// period the requests still waiting on a provider are ended (SPEC section 2): streams with a
// final SSE error event, the others with a 503; they settle and emit like any other request.
asio::awaitable<void> drain(Worker& worker, std::chrono::steady_clock::time_point deadline) {
  const bool finished = co_await wait_idle(worker, deadline);
  if (!finished) {
    log::warn("shutdown grace period over; ending in-flight requests",
              {{"requests", std::to_string(worker.api_tracker.active_requests)}});
    worker.gateway->stop_in_flight();
    const bool stopped = co_await wait_idle(worker, std::chrono::steady_clock::now() + kStopWait);
    if (!stopped) {
      log::error("requests did not end after being stopped; abandoning them",
                 {{"requests", std::to_string(worker.api_tracker.active_requests)},
                  {"settles", std::to_string(worker.guard->pending())}});
    }
  }
  if (worker.redis) worker.redis->stop();
  worker.io.stop();
}

void begin_drain(Worker& worker, std::chrono::milliseconds grace) {
  asio::post(worker.io, [&worker, grace] {
    boost::system::error_code ignored;
    if (worker.api_acceptor) worker.api_acceptor->close(ignored);
    if (worker.admin_acceptor) worker.admin_acceptor->close(ignored);
    worker.api_tracker.draining = true;
    worker.admin_tracker.draining = true;
    asio::co_spawn(worker.io, drain(worker, std::chrono::steady_clock::now() + grace), log_failure("drain"));
  });
}

// tollgate_config_reloads_total{result}: written on the control thread, read at scrape time.
struct ReloadCounts {
  std::atomic<std::uint64_t> ok{0};
  std::atomic<std::uint64_t> error{0};
};

// Reloads on SIGHUP and when the configuration files change (inotify, debounced). Everything
// runs on the control thread, never a worker: loading does file I/O. A valid snapshot is posted
// to every worker for the requests that start from then on; an invalid one changes nothing.
class Reloading {
 public:
  Reloading(asio::io_context& control, std::vector<std::unique_ptr<Worker>>& workers,
            std::shared_ptr<const config::Config> running, Reloader reload, ReloadCounts& counts)
      : workers_(workers),
        running_(std::move(running)),
        reload_(std::move(reload)),
        counts_(counts),
        watch_(control.get_executor(), kDebounce, [this] { apply("file change"); }) {
    watch_.watch(watched_paths(*running_));
  }

  void apply(std::string_view trigger) {
    log::info("reloading configuration", {{"trigger", trigger}});
    auto fresh = reload_();
    if (!fresh) {  // the loader logged each error as file:line:col
      counts_.error.fetch_add(1, std::memory_order_relaxed);
      log::error("configuration reload failed; the previous configuration keeps serving", {{"trigger", trigger}});
      return;
    }
    for (const auto& setting : restart_required(*running_, *fresh)) {
      log::warn("setting changed on reload; it takes effect only after a restart", {{"setting", setting}});
    }
    log::set_level(fresh->log.level);
    for (auto& worker : workers_) {
      asio::post(worker->io, [&w = *worker, fresh] { w.gateway->set_config(fresh); });
    }
    running_ = std::move(fresh);
    watch_.watch(watched_paths(*running_));
    counts_.ok.fetch_add(1, std::memory_order_relaxed);
    log::info("configuration reloaded", {{"trigger", trigger}});
  }

  void stop() { watch_.stop(); }

 private:
  // Editors write a file in several steps, and operators edit several files: reload once
  // they have been quiet this long.
  static constexpr std::chrono::milliseconds kDebounce{150};

  std::vector<std::unique_ptr<Worker>>& workers_;
  std::shared_ptr<const config::Config> running_;
  Reloader reload_;
  ReloadCounts& counts_;
  ConfigWatch watch_;
};

// Runs on the control thread: SIGHUP reloads, SIGTERM/SIGINT drain every worker.
asio::awaitable<void> watch_signals(asio::signal_set& signals, std::vector<std::unique_ptr<Worker>>& workers,
                                    std::chrono::milliseconds grace, Reloading& reloading) {
  for (;;) {
    auto [ec, signal] = co_await signals.async_wait(kAsTuple);
    if (ec) co_return;
    if (signal == SIGHUP) {
      reloading.apply("SIGHUP");
      continue;
    }
    log::info("shutting down", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    reloading.stop();
    for (auto& worker : workers) begin_drain(*worker, grace);
    co_return;
  }
}

// Copies `worker`'s metrics shard on the worker's own thread (the shard has no locks).
asio::awaitable<metrics::Shard> copy_shard(Worker& worker) {
  co_return co_await asio::co_spawn(
      worker.io, [&worker]() -> asio::awaitable<metrics::Shard> { co_return worker.metrics; }, asio::use_awaitable);
}

using ProtectionCounts = std::array<std::uint64_t, http::kHttp2ProtectionCount>;

// The counters a worker keeps in plain integers: its HTTP/2 protection closes and its upstream
// connections.
struct WorkerCounts {
  ProtectionCounts protection_closes{};
  upstream::ClientStats upstream;

  void add(const WorkerCounts& other) {
    for (std::size_t i = 0; i < protection_closes.size(); ++i) protection_closes[i] += other.protection_closes[i];
    upstream.http1_connections += other.upstream.http1_connections;
    upstream.h2_connections += other.upstream.h2_connections;
    upstream.connects_total += other.upstream.connects_total;
    upstream.h2_goaways_total += other.upstream.h2_goaways_total;
  }
};

// Copies `worker`'s counters on the worker's own thread.
asio::awaitable<WorkerCounts> copy_worker_counts(Worker& worker) {
  co_return co_await asio::co_spawn(
      worker.io,
      [&worker]() -> asio::awaitable<WorkerCounts> {
        WorkerCounts counts;
        const auto& closes = worker.api_tracker.h2_closes;
        std::copy(std::begin(closes), std::end(closes), counts.protection_closes.begin());
        counts.upstream = worker.upstream->stats();
        co_return counts;
      },
      asio::use_awaitable);
}

// tollgate_upstream_*: the workers' connections to providers.
void write_upstream_connections(std::string& out, const upstream::ClientStats& s) {
  metrics::write_family(out, "tollgate_upstream_connections",
                        "Open connections to providers, by protocol (idle pooled ones included).",
                        metrics::Type::gauge,
                        {{{{"protocol", "http1"}}, s.http1_connections}, {{{"protocol", "h2"}}, s.h2_connections}});
  metrics::write_family(out, "tollgate_upstream_connects_total", "TCP connections established to providers.",
                        metrics::Type::counter, {{{}, s.connects_total}});
  metrics::write_family(out, "tollgate_upstream_h2_goaways_total",
                        "GOAWAY frames received from providers on HTTP/2 connections.", metrics::Type::counter,
                        {{{}, s.h2_goaways_total}});
}

// tollgate_http2_protection_closes_total{reason}: every reason, zeros included.
void write_protection_closes(std::string& out, const ProtectionCounts& counts) {
  std::vector<metrics::Sample> samples;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    samples.push_back({{{"reason", http::protection_name(static_cast<http::Http2Protection>(i))}}, counts[i]});
  }
  metrics::write_family(out, "tollgate_http2_protection_closes_total",
                        "HTTP/2 connections closed with GOAWAY because a protection tripped, by reason.",
                        metrics::Type::counter, samples);
}

// tollgate_budget_used_ratio{tenant,window}: spend over limit for every tenant with a budget,
// read from the limits store (on the admin worker). Tenants the store cannot answer for are left out.
asio::awaitable<void> write_budget_ratios(std::string& out, Worker& admin) {
  const std::shared_ptr<const config::Config> config = admin.gateway->config();
  std::vector<std::pair<std::string, double>> daily;
  std::vector<std::pair<std::string, double>> monthly;
  for (const auto& tenant : config->policy.tenants) {
    const auto& limits = tenant.limits;
    if (!limits.budget_daily && !limits.budget_monthly) continue;
    auto usage = co_await admin.guard->usage(tenant.name);
    if (!usage) continue;
    const auto ratio = [](NanoUsd spent, NanoUsd limit) {
      return limit.value > 0 ? static_cast<double>(spent.value) / static_cast<double>(limit.value) : 0.0;
    };
    if (limits.budget_daily) daily.emplace_back(tenant.name, ratio(usage->daily.spent, *limits.budget_daily));
    if (limits.budget_monthly) monthly.emplace_back(tenant.name, ratio(usage->monthly.spent, *limits.budget_monthly));
  }
  std::vector<metrics::GaugeSample> samples;
  for (const auto& [tenant, value] : daily) samples.push_back({{{"tenant", tenant}, {"window", "daily"}}, value});
  for (const auto& [tenant, value] : monthly) samples.push_back({{{"tenant", tenant}, {"window", "monthly"}}, value});
  metrics::write_gauge_family(out, "tollgate_budget_used_ratio",
                              "Settled spend over the budget, per tenant and UTC window.", samples);
}

// /metrics (SPEC section 7), rendered on the admin worker at scrape time: the workers' shards
// (copied on their own threads, then merged), budget ratios from the store, and the counters
// the other modules keep in relaxed atomics.
asio::awaitable<std::string> render_metrics(std::vector<std::unique_ptr<Worker>>& workers, const usage::Sink& sink,
                                            const ReloadCounts& reloads) {
  metrics::Shard merged;
  limits::StoreErrorStats errors;
  WorkerCounts counts;
  for (auto& worker : workers) {
    merged.merge(co_await copy_shard(*worker));
    counts.add(co_await copy_worker_counts(*worker));
    const auto s = worker->guard->stats();
    errors.rate_limits_local += s.rate_limits_local;
    errors.rate_limits_open += s.rate_limits_open;
    errors.rate_limits_closed += s.rate_limits_closed;
    errors.budgets_open += s.budgets_open;
    errors.budgets_closed += s.budgets_closed;
  }
  std::string out;
  merged.render(out);
  co_await write_budget_ratios(out, *workers.front());
  const usage::SinkStats events = sink.stats();
  const std::string_view name = sink.name();
  metrics::write_family(out, "tollgate_usage_events_total", "Usage events by sink and what became of them.",
                        metrics::Type::counter,
                        {{{{"sink", name}, {"result", "delivered"}}, events.delivered},
                         {{{"sink", name}, {"result", "spooled"}}, events.spooled},
                         {{{"sink", name}, {"result", "replayed"}}, events.replayed},
                         {{{"sink", name}, {"result", "dropped"}}, events.dropped}});
  metrics::write_family(out, "tollgate_usage_spool_bytes", "Bytes of usage events waiting in the Kafka spool.",
                        metrics::Type::gauge, {{{}, events.spool_bytes}});
  metrics::write_family(out, "tollgate_limits_store_errors_total",
                        "Admission decisions taken because the limits store could not answer (on_store_error).",
                        metrics::Type::counter,
                        {{{{"decision", "rate_limits_local"}}, errors.rate_limits_local},
                         {{{"decision", "rate_limits_open"}}, errors.rate_limits_open},
                         {{{"decision", "rate_limits_closed"}}, errors.rate_limits_closed},
                         {{{"decision", "budgets_open"}}, errors.budgets_open},
                         {{{"decision", "budgets_closed"}}, errors.budgets_closed}});
  metrics::write_family(out, "tollgate_config_reloads_total", "Configuration reloads (SIGHUP or file change) by result.",
                        metrics::Type::counter,
                        {{{{"result", "ok"}}, reloads.ok.load(std::memory_order_relaxed)},
                         {{{"result", "error"}}, reloads.error.load(std::memory_order_relaxed)}});
  write_protection_closes(out, counts.protection_closes);
  write_upstream_connections(out, counts.upstream);
  std::vector<std::string> worker_names;
  for (std::size_t i = 0; i < workers.size(); ++i) worker_names.push_back(std::to_string(i));
  std::vector<metrics::Sample> connections;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    connections.push_back({{{"worker", worker_names[i]}}, workers[i]->open_connections.load(std::memory_order_relaxed)});
  }
  metrics::write_family(out, "tollgate_worker_connections",
                        "Open API connections per worker thread (each goes to the worker with the fewest).",
                        metrics::Type::gauge, connections);
  co_return out;
}

std::string to_string(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string out;
  if (address.is_v6()) out += '[';
  out += address.to_string();
  if (address.is_v6()) out += ']';
  out += ':';
  out += std::to_string(endpoint.port());
  return out;
}

}  // namespace

int run(std::shared_ptr<const config::Config> config, Reloader reload) {
  log::set_level(config->log.level);
  const unsigned count = config->threads != 0 ? config->threads : std::max(1u, std::thread::hardware_concurrency());
  static const SystemClock clock;
  // The persisted store when limits are local; an in-memory one for on_store_error otherwise.
  limits::LocalStoreOptions local_options;
  if (config->limits.store == config::StoreKind::local) local_options.state_dir = config->limits.local_state_dir;
  auto local = limits::LocalStore::open(clock, local_options);
  if (!local) {
    log::error("cannot open the local limits store", {{"error", local.error().message}});
    return 1;
  }
  // Throws (a start-up error main reports) when the sink cannot be opened.
  const std::unique_ptr<usage::Sink> sink = usage::open_sink(config->usage, count);
  // The API listener's TLS context (tls configured), shared read-only by every worker.
  std::unique_ptr<asio::ssl::context> tls;
  if (config->tls) {
    tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    try {
      http::configure_server_tls(*tls, config->tls->cert_file, config->tls->key_file);
    } catch (const std::exception& e) {
      log::error("cannot start the TLS API listener", {{"error", e.what()}});
      return 1;
    }
  }
  const std::unique_ptr<gateway::AccessLog> access_log = gateway::AccessLog::open(config->log, count);
  std::vector<std::unique_ptr<Worker>> workers;
  // /readyz: every worker's limits store answers (the local store always does) and the usage
  // sink can accept events.
  const auto ready = [&workers, &sink] {
    for (const auto& worker : workers) {
      if (worker->redis && !worker->redis->ready()) return false;
    }
    return sink->ready();
  };
  ReloadCounts reloads;
  const auto metrics_page = [&workers, &sink, &reloads] { return render_metrics(workers, *sink, reloads); };
  for (unsigned i = 0; i < count; ++i) {
    workers.push_back(std::make_unique<Worker>(config, clock, **local, *sink, *access_log, i, ready, metrics_page));
  }
  for (auto& worker : workers) {
    if (worker->redis) worker->redis->start();
  }

  // Port 0 means "any free port": the first worker picks it, the others share it.
  tcp::endpoint api = resolve_listen(config->listen);
  for (auto& worker : workers) {
    worker->api_acceptor.emplace(bind_acceptor(worker->io, api, true));
    api.port(worker->api_acceptor->local_endpoint().port());
  }
  Worker& first = *workers.front();
  first.admin_acceptor.emplace(bind_acceptor(first.io, resolve_listen(config->admin_listen), false));

  const auto options = session_options(config->server);
  std::vector<ConnectionTarget> api_targets;
  for (auto& worker : workers) {
    api_targets.push_back({worker->io.get_executor(), worker->gateway.get(), &worker->api_tracker,
                           &worker->open_connections});
  }
  for (std::size_t i = 0; i < workers.size(); ++i) {
    asio::co_spawn(workers[i]->io, accept_loop(*workers[i]->api_acceptor, options, api_targets, i, tls.get()),
                   log_failure("api accept loop"));
  }
  asio::co_spawn(first.io,
                 accept_loop(*first.admin_acceptor, options,
                             {{first.io.get_executor(), &first.admin, &first.admin_tracker, &first.admin_connections}},
                             0, nullptr),
                 log_failure("admin accept loop"));

  asio::io_context control{1};
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  Reloading reloading(control, workers, config, std::move(reload), reloads);
  asio::co_spawn(control, watch_signals(signals, workers, config->server.shutdown_grace, reloading),
                 log_failure("signals"));

  for (auto& worker : workers) {
    worker->thread = std::thread([&io = worker->io] {
      try {
        io.run();
      } catch (const std::exception& e) {
        log::error("worker stopped by an exception", {{"error", e.what()}});
      }
    });
  }
  // "listening" promises a gateway that can admit: give the Redis connections (opened by the
  // workers) a moment first. Past it, requests are served per on_store_error until they come up.
  const auto connect_deadline = std::chrono::steady_clock::now() + kStoreConnectWait;
  while (!ready() && std::chrono::steady_clock::now() < connect_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!ready()) log::warn("limits store not reachable yet; admitting per on_store_error until it is");
  log::info("listening", {{"api", to_string(api)},
                          {"admin", to_string(first.admin_acceptor->local_endpoint())},
                          {"workers", std::to_string(count)},
                          {"tls", tls ? "on" : "off"}});
  control.run();
  for (auto& worker : workers) worker->thread.join();
  sink->close();  // every event handed over is written, delivered or spooled
  access_log->close();
  (*local)->flush();
  log::info("stopped");
  return 0;
}

}  // namespace tollgate::server
