#include "tollgate/redis/client.hpp"

#include <hiredis/async.h>

#include <algorithm>
#include <atomic>
#include <span>
#include <utility>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "asio_adapter.hpp"
#include "hiredis_reply.hpp"
#include "resp_command.hpp"
#include "tollgate/core/log.hpp"

namespace tollgate::redis {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Everything one connection needs, shared (shared_ptr) by the Client, its supervisor
// coroutine and every command coroutine, so none of them can outlive what it touches: a
// worker may destroy the Client while a coroutine is parked. This is mutable state, unlike the
// snapshots STYLE rule 11 reserves shared_ptr for; it is still confined to one worker thread,
// except `ready` and the counters, which are atomics for /readyz and metrics.
struct Client::State {
  State(asio::any_io_executor ex, ClientOptions opts)
      : executor(std::move(ex)), options(std::move(opts)), where(options.address.describe()), wake(executor) {}
  ~State() { close_context(); }

  asio::any_io_executor executor;
  const ClientOptions options;
  const std::string where;  // "host:port/db" for logs and messages (no password)

  redisAsyncContext* context = nullptr;  // the connection being set up or in use; null if none
  bool started = false;
  bool stopping = false;
  bool connected = false;  // hiredis reported the TCP connect of `context` done
  bool broken = false;     // `context` must be replaced (set from hiredis callbacks)
  std::string broken_reason;
  std::string last_error;  // why the last connect attempt failed, for "not ready" messages
  int timeouts_in_row = 0;
  Clock::time_point noscript_logged{};
  std::atomic<bool> ready{false};

  // The supervisor's one wake-up: cancelled on every change it must look at.
  asio::steady_timer wake;

  std::atomic<std::uint64_t> connects{0};
  std::atomic<std::uint64_t> connect_failures{0};
  std::atomic<std::uint64_t> disconnects{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> noscript_reloads{0};
  std::atomic<std::uint64_t> readonly_errors{0};

  void mark_broken(std::string reason) {
    ready = false;
    if (!broken) {
      broken = true;
      broken_reason = std::move(reason);
    }
    wake.cancel();
  }

  // Frees the connection, if any. Never called from inside a hiredis callback (the supervisor,
  // stop() and the destructor all run from their own handlers). Pending commands get their
  // callbacks now, with no reply.
  void close_context() {
    ready = false;
    connected = false;
    if (redisAsyncContext* ac = std::exchange(context, nullptr)) {
      ac->data = nullptr;  // the callbacks below must not reach back into this state
      redisAsyncFree(ac);
    }
  }
};

namespace {

using State = Client::State;

State* state_of(const redisAsyncContext* ac) { return ac == nullptr ? nullptr : static_cast<State*>(ac->data); }

Failure unavailable(std::string message) { return fail(Error::limits_unavailable, std::move(message)); }

// hiredis callbacks. hiredis frees the context itself right after on_connect(REDIS_ERR) and
// after on_disconnect: both forget it here.
void on_connect(const redisAsyncContext* ac, int status) {
  State* s = state_of(ac);
  if (s == nullptr) return;
  if (status == REDIS_OK) {
    s->connected = true;
  } else {
    s->last_error = ac->errstr != nullptr ? ac->errstr : "connect failed";
    s->context = nullptr;
    s->mark_broken(s->last_error);
  }
  s->wake.cancel();
}

void on_disconnect(const redisAsyncContext* ac, int) {
  State* s = state_of(ac);
  if (s == nullptr) return;
  s->context = nullptr;
  s->connected = false;
  s->mark_broken(ac->errstr != nullptr && ac->err != 0 ? ac->errstr : "connection closed");
}

// The commands of one round trip, written back to back, and what came back. Owned by the
// awaiting coroutine until it gives up (deadline or cancellation); from then on by hiredis's
// callbacks, the last of which deletes it. hiredis calls every callback exactly once, with
// the reply or with none when the context is freed.
struct Batch {
  explicit Batch(const asio::any_io_executor& executor) : signal(executor) {}
  asio::steady_timer signal;  // cancelled when the last reply arrived
  std::vector<Result<Reply>> results;
  std::size_t outstanding = 0;  // callbacks hiredis still owes
  bool abandoned = false;
};

void on_reply(redisAsyncContext* ac, void* raw, void* privdata) {
  auto* batch = static_cast<Batch*>(privdata);
  const auto* reply = static_cast<const redisReply*>(raw);
  State* s = state_of(ac);
  Result<Reply> result = unavailable("redis connection lost before the reply");
  if (reply != nullptr) {
    Reply converted = from_hiredis(*reply);
    if (s != nullptr) s->timeouts_in_row = 0;
    if (converted.has_error_code("READONLY")) {
      // We are talking to a replica (a failover moved the master): an outage for us.
      result = unavailable("redis at the configured address is read-only (a replica after a failover?)");
      if (s != nullptr) {
        ++s->readonly_errors;
        s->mark_broken("READONLY reply");
      }
    } else {
      result = std::move(converted);
    }
  }
  --batch->outstanding;
  if (!batch->abandoned) batch->results.push_back(std::move(result));
  if (batch->outstanding == 0) {
    if (batch->abandoned) {
      delete batch;
    } else {
      batch->signal.cancel();
    }
  }
}

std::vector<Result<Reply>> all_failed(std::size_t n, const Failure& failure) {
  return std::vector<Result<Reply>>(n, Result<Reply>(failure));
}

// Writes `commands` (each in RESP, resp_command.hpp) back to back on the current connection
// and waits for all their replies until `timeout`. Always answers one result per command.
// `commands` is read only before the first suspension (hiredis copies each into its buffer).
asio::awaitable<std::vector<Result<Reply>>> round_trip(std::shared_ptr<State> s,
                                                       std::span<const std::string> commands,
                                                       std::chrono::milliseconds timeout) {
  const std::size_t n = commands.size();
  auto batch = std::make_unique<Batch>(s->executor);
  bool submitted = true;
  for (const auto& command : commands) {
    // hiredis copies the command into its output buffer before returning.
    if (s->context == nullptr || s->broken ||
        redisAsyncFormattedCommand(s->context, &on_reply, batch.get(), command.data(), command.size()) != REDIS_OK) {
      submitted = false;
      break;
    }
    ++batch->outstanding;
  }
  if (!submitted) {
    if (batch->outstanding > 0) batch.release()->abandoned = true;  // the callbacks delete it
    co_return all_failed(n, unavailable("redis connection is not usable"));
  }

  const auto deadline = Clock::now() + timeout;
  batch->signal.expires_at(deadline);
  while (batch->outstanding > 0) {
    auto [ec] = co_await batch->signal.async_wait(kAsTuple);
    if (batch->outstanding == 0) break;
    Batch* left = batch.release();
    left->abandoned = true;  // a late reply is dropped by on_reply, which then deletes it
    if (!ec || Clock::now() >= deadline) {
      ++s->timeouts;
      if (++s->timeouts_in_row >= s->options.max_timeouts_in_row && s->ready) {
        s->mark_broken(std::to_string(s->timeouts_in_row) + " commands in a row timed out");
      }
      co_return all_failed(n, unavailable("redis did not answer within " + std::to_string(timeout.count()) +
                                          " ms"));
    }
    co_return all_failed(n, unavailable("redis command cancelled"));
  }
  co_return std::move(batch->results);
}

Failure not_ready(const State& s) {
  std::string message = "redis at " + s.where + " is not connected";
  if (s.stopping) {
    message += " (closed)";
  } else if (!s.last_error.empty()) {
    message += " (last error: " + s.last_error + ")";
  }
  return unavailable(std::move(message));
}

// The address to hand hiredis: the literal itself, or the first address `host` resolves to
// (on Asio's resolver thread, never on this worker, bounded by `deadline`).
asio::awaitable<Result<std::string>> resolve(std::shared_ptr<State> s, Clock::time_point deadline) {
  using namespace asio::experimental::awaitable_operators;
  const Address& address = s->options.address;
  boost::system::error_code ec;
  asio::ip::make_address(address.host, ec);
  if (!ec) co_return address.host;
  asio::ip::tcp::resolver resolver(s->executor);
  asio::steady_timer timer(s->executor, deadline);
  auto resolved = co_await (resolver.async_resolve(address.host, std::to_string(address.port), kAsTuple) ||
                            timer.async_wait(kAsTuple));
  if (resolved.index() == 1) co_return unavailable("cannot resolve the redis host in time");
  auto [error, results] = std::get<0>(std::move(resolved));
  if (error || results.empty()) co_return unavailable("cannot resolve the redis host: " + error.message());
  co_return results.begin()->endpoint().address().to_string();
}

// Connects, authenticates, selects the database and loads every script, within
// options.connect_timeout. On success `s->context` is a ready connection.
asio::awaitable<Result<void>> open_connection(std::shared_ptr<State> s) {
  const auto deadline = Clock::now() + s->options.connect_timeout;
  s->broken = false;
  s->broken_reason.clear();
  s->connected = false;
  auto ip = co_await resolve(s, deadline);
  if (!ip) co_return ip.error();
  if (s->stopping) co_return unavailable("closed");

  redisAsyncContext* ac = redisAsyncConnect(ip->c_str(), s->options.address.port);
  if (ac == nullptr) co_return unavailable("cannot allocate a redis context");
  if (ac->err != 0) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);
    co_return unavailable("cannot connect: " + why);
  }
  if (!attach_to_asio(ac, s->executor)) {
    redisAsyncFree(ac);
    co_return unavailable("cannot watch the redis socket");
  }
  ac->data = s.get();
  s->context = ac;
  redisAsyncSetConnectCallback(ac, &on_connect);
  redisAsyncSetDisconnectCallback(ac, &on_disconnect);

  s->wake.expires_at(deadline);
  while (!s->connected && s->context != nullptr && !s->stopping && Clock::now() < deadline) {
    co_await s->wake.async_wait(kAsTuple);
  }
  if (s->stopping) co_return unavailable("closed");
  if (s->context == nullptr) co_return unavailable("cannot connect: " + s->broken_reason);
  if (!s->connected) co_return unavailable("connect timed out");

  const Address& address = s->options.address;
  std::vector<std::string> setup;
  if (!address.password.empty()) {
    if (address.username.empty()) {
      setup.push_back(format_command({"AUTH", address.password}));
    } else {
      setup.push_back(format_command({"AUTH", address.username, address.password}));
    }
  }
  if (address.db != 0) setup.push_back(format_command({"SELECT", std::to_string(address.db)}));
  for (const Script& script : s->options.scripts) setup.push_back(format_command({"SCRIPT", "LOAD", script.source}));
  // A replica (the address still points at a demoted master after a failover) would answer
  // every script with READONLY: not ready until it is a master again.
  setup.push_back(format_command({"ROLE"}));
  // A stopped (SIGSTOP) or wedged server still completes TCP handshakes from its backlog:
  // only an answer proves it is alive.
  setup.push_back(format_command({"PING"}));

  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  auto results = co_await round_trip(s, setup, std::max(left, std::chrono::milliseconds(1)));
  std::size_t i = 0;
  // Redis's own error texts (WRONGPASS, NOAUTH, ...) never repeat the password.
  if (!address.password.empty()) {
    const auto& auth = results[i++];
    if (!auth) co_return auth.error();
    if (auth->is_error()) co_return unavailable("AUTH failed: " + auth->text);
  }
  if (address.db != 0) {
    const auto& select = results[i++];
    if (!select) co_return select.error();
    if (select->is_error()) co_return unavailable("SELECT failed: " + select->text);
  }
  for (const Script& script : s->options.scripts) {
    const auto& load = results[i++];
    if (!load) co_return load.error();
    if (load->is_error()) co_return unavailable("SCRIPT LOAD of " + std::string(script.name) + " failed: " + load->text);
    if (load->text != script.sha1) {
      co_return unavailable("SCRIPT LOAD of " + std::string(script.name) + " answered an unexpected SHA1");
    }
  }
  const auto& role = results[i++];
  if (!role) co_return role.error();
  // An error (an ACL user without ROLE) tells nothing: READONLY replies still catch a replica.
  if (role->type == Reply::Type::array && !role->elements.empty() && role->elements[0].text != "master") {
    co_return unavailable("the server is a " + role->elements[0].text + ", not a master (read-only)");
  }
  const auto& ping = results[i];
  if (!ping) co_return ping.error();
  if (ping->is_error()) co_return unavailable("PING failed: " + ping->text);
  co_return Result<void>{};
}

// Keeps one ready connection while the client runs: connect, serve until the connection
// breaks, back off (doubling from backoff_min to backoff_max), again.
asio::awaitable<void> supervise(std::shared_ptr<State> s) {
  auto backoff = s->options.backoff_min;
  while (!s->stopping) {
    auto opened = co_await open_connection(s);
    if (opened && !s->stopping && !s->broken) {
      s->timeouts_in_row = 0;
      s->last_error.clear();
      s->ready = true;
      ++s->connects;
      backoff = s->options.backoff_min;
      log::info("redis connected", {{"redis", s->where}});
      s->wake.expires_at(Clock::time_point::max());
      while (!s->broken && !s->stopping) co_await s->wake.async_wait(kAsTuple);
      s->ready = false;
      if (!s->stopping) {
        ++s->disconnects;
        s->last_error = s->broken_reason;
        log::warn("redis connection lost; reconnecting", {{"redis", s->where}, {"reason", s->broken_reason}});
      }
    } else if (!s->stopping) {
      ++s->connect_failures;
      s->last_error = opened ? s->broken_reason : opened.error().message;
      log::warn("redis connect failed; retrying",
                {{"redis", s->where}, {"error", s->last_error}, {"retry_in_ms", std::to_string(backoff.count())}});
    }
    s->close_context();
    if (s->stopping) break;
    const auto until = Clock::now() + backoff;
    s->wake.expires_at(until);
    while (!s->stopping && Clock::now() < until) co_await s->wake.async_wait(kAsTuple);
    backoff = std::min(backoff * 2, s->options.backoff_max);
  }
}

asio::awaitable<Result<Reply>> run_command(std::shared_ptr<State> s, std::vector<std::string> args) {
  if (!s->ready) co_return not_ready(*s);
  auto timeout = s->options.timeout;
  const std::string command = format_command(args);
  auto results = co_await round_trip(std::move(s), std::span(&command, 1), timeout);
  co_return std::move(results.front());
}

asio::awaitable<Result<Reply>> run_eval(std::shared_ptr<State> s, Script script, std::vector<std::string> keys,
                                        std::vector<std::string> args) {
  if (!s->ready) co_return not_ready(*s);
  const std::string key_count = std::to_string(keys.size());
  std::size_t size = 64 + script.sha1.size();
  for (const auto& key : keys) size += key.size() + 16;
  for (const auto& arg : args) size += arg.size() + 16;
  std::string evalsha;
  evalsha.reserve(size);
  append_command_header(evalsha, 3 + keys.size() + args.size());
  append_argument(evalsha, "EVALSHA");
  append_argument(evalsha, script.sha1);
  append_argument(evalsha, key_count);
  for (const auto& key : keys) append_argument(evalsha, key);
  for (const auto& arg : args) append_argument(evalsha, arg);

  auto first = co_await round_trip(s, std::span(&evalsha, 1), s->options.timeout);
  Result<Reply>& reply = first.front();
  if (!reply || !reply->has_error_code("NOSCRIPT")) co_return std::move(reply);

  // The server lost its scripts (SCRIPT FLUSH, restart, failover): load and retry, pipelined.
  ++s->noscript_reloads;
  // Every call in flight sees NOSCRIPT after a SCRIPT FLUSH: one line per second is enough.
  if (const auto now = Clock::now(); now - s->noscript_logged >= std::chrono::seconds(1)) {
    s->noscript_logged = now;
    log::warn("redis lost a script; reloading it", {{"redis", s->where}, {"script", script.name}});
  }
  if (!s->ready) co_return not_ready(*s);
  std::vector<std::string> retry;
  retry.push_back(format_command({"SCRIPT", "LOAD", script.source}));
  retry.push_back(std::move(evalsha));
  auto second = co_await round_trip(s, retry, s->options.timeout);
  if (!second[0]) co_return second[0].error();
  if (second[0]->is_error()) {
    co_return unavailable("SCRIPT LOAD of " + std::string(script.name) + " failed: " + second[0]->text);
  }
  co_return std::move(second[1]);
}

void log_supervisor_end(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::error("redis supervisor failed", {{"error", e.what()}});
  }
}

}  // namespace

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : state_(std::make_shared<State>(std::move(executor), std::move(options))) {}

Client::~Client() { stop(); }

void Client::start() {
  if (state_->started) return;
  state_->started = true;
  asio::co_spawn(state_->executor, supervise(state_), &log_supervisor_end);
}

void Client::stop() {
  State& s = *state_;
  if (s.stopping) return;
  s.stopping = true;
  s.close_context();
  s.wake.cancel();
}

bool Client::ready() const { return state_->ready.load(); }

ClientStats Client::stats() const {
  const State& s = *state_;
  return ClientStats{s.connects.load(),         s.connect_failures.load(), s.disconnects.load(),
                     s.timeouts.load(),         s.noscript_reloads.load(), s.readonly_errors.load()};
}

asio::awaitable<Result<Reply>> Client::command(std::vector<std::string> args) {
  return run_command(state_, std::move(args));
}

asio::awaitable<Result<Reply>> Client::eval(Script script, std::vector<std::string> keys,
                                            std::vector<std::string> args) {
  return run_eval(state_, std::move(script), std::move(keys), std::move(args));
}

}  // namespace tollgate::redis
