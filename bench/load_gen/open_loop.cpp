// The open-loop schedule: N connection coroutines take the next due request in turn, and one
// watchdog closes a connection whose request has run past the timeout.
#include "open_loop.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace load_gen {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kBodyLimit = 16u << 20;
constexpr auto kLateAfter = std::chrono::milliseconds(1);
constexpr auto kWatchdogPeriod = std::chrono::milliseconds(50);
// The connections open before the first request is due, so connect time is not in the figures.
constexpr auto kStartDelay = std::chrono::milliseconds(200);

// What the watchdog needs to know about one connection. `socket` points into the connection
// coroutine's frame and is set only while that coroutine runs.
struct ConnectionRecord {
  tcp::socket* socket = nullptr;
  std::optional<SteadyClock::time_point> busy_since;  // a request is in flight since then
  bool timed_out = false;                              // the watchdog closed the socket
};

// Everything the coroutines share. Single-threaded: only the io_context's thread touches it.
// Declared before the io_context in run_open_loop, so it outlives every coroutine's frame.
struct RunState {
  Options options;
  tcp::endpoint target;
  std::string request;  // the same bytes for every request
  SteadyClock::time_point start;
  std::uint64_t next = 0;  // the next request to take
  std::uint64_t in_flight = 0;
  unsigned running = 0;    // connection coroutines not yet returned
  std::vector<ConnectionRecord> connections;
  Report report;
  SteadyClock::time_point last_answer;

  SteadyClock::time_point due(std::uint64_t index) const {
    const double ns = static_cast<double>(index) * 1e9 / options.rate;
    return start + std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  }
};

std::string build_request(const Options& options) {
  std::string request = options.method + " " + options.path + " HTTP/1.1\r\nHost: " + options.host +
                        ":" + std::to_string(options.port) + "\r\n";
  for (const std::string& header : options.headers) request += header + "\r\n";
  if (!options.body.empty() || options.method == "POST" || options.method == "PUT") {
    request += "Content-Length: " + std::to_string(options.body.size()) + "\r\n";
  }
  request += "\r\n" + options.body;
  return request;
}

void count_error(RunState& state, const std::string& kind, const std::string& detail) {
  auto& entry = state.report.error_kinds[kind];
  if (entry.count++ == 0) entry.example = detail;
}

// Publishes a connection's socket to the watchdog for as long as the frame holding it lives;
// declared after the socket, so it unpublishes it first, on every way out (exceptions too).
class PublishedSocket {
 public:
  PublishedSocket(ConnectionRecord& record, tcp::socket& socket) : record_(record) { record_.socket = &socket; }
  PublishedSocket(const PublishedSocket&) = delete;
  PublishedSocket& operator=(const PublishedSocket&) = delete;
  ~PublishedSocket() { record_.socket = nullptr; }

 private:
  ConnectionRecord& record_;
};

void close_socket(tcp::socket& socket) {
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

// One keep-alive connection: take the next request, wait until it is due, (re)connect if
// needed, send it, read the whole answer, record it; until every request has been taken. A
// failed request closes the connection; the next one reconnects. Reads and writes are bounded
// by the watchdog (options.timeout), the whole run by run_open_loop's run_for.
net::awaitable<void> run_connection(RunState& state, std::size_t index) {
  ConnectionRecord& record = state.connections[index];
  const auto executor = co_await net::this_coro::executor;
  tcp::socket socket(executor);
  const PublishedSocket published(record, socket);
  beast::flat_buffer buffer;
  net::steady_timer timer(executor);
  beast::error_code ec;

  co_await socket.async_connect(state.target, net::redirect_error(net::use_awaitable, ec));
  if (ec) close_socket(socket);  // retried when the first request is due

  while (state.next < state.report.scheduled) {
    const std::uint64_t slot = state.next++;
    const SteadyClock::time_point due = state.due(slot);
    if (due > SteadyClock::now()) {
      timer.expires_at(due);
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    ++state.report.sent;
    ++state.in_flight;
    record.busy_since = SteadyClock::now();
    record.timed_out = false;
    if (*record.busy_since - due > kLateAfter) ++state.report.late;

    std::string failure;  // empty: ok so far
    if (!socket.is_open()) {
      co_await socket.async_connect(state.target, net::redirect_error(net::use_awaitable, ec));
      if (ec) failure = "connect";
    }
    if (failure.empty()) {
      co_await net::async_write(socket, net::buffer(state.request),
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) failure = "write";
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    if (failure.empty()) {
      co_await http::async_read(socket, buffer, parser, net::redirect_error(net::use_awaitable, ec));
      if (ec) failure = "read";
    }
    const SteadyClock::time_point end = SteadyClock::now();
    record.busy_since.reset();
    --state.in_flight;

    if (!failure.empty()) {
      count_error(state, record.timed_out ? "timeout" : failure, ec.message());
      close_socket(socket);
      buffer.clear();
      continue;
    }
    const auto& response = parser.get();
    const unsigned status = response.result_int();
    state.last_answer = std::max(state.last_answer, end);
    if (status < 200 || status > 299) {
      count_error(state, "status " + std::to_string(status), response.body().substr(0, 300));
    } else {
      ++state.report.ok;
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(end - due).count();
      state.report.latencies_us.push_back(static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, UINT32_MAX)));
    }
    if (!parser.keep_alive()) {
      close_socket(socket);
      buffer.clear();
    }
  }
  close_socket(socket);
}

// Every kWatchdogPeriod, closes the socket of a connection whose request has been in flight
// longer than options.timeout (its pending read or write then fails and counts as "timeout").
// Returns when every connection coroutine has.
net::awaitable<void> run_watchdog(RunState& state) {
  net::steady_timer timer(co_await net::this_coro::executor);
  beast::error_code ec;
  while (state.running > 0) {
    timer.expires_after(kWatchdogPeriod);
    co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    const SteadyClock::time_point now = SteadyClock::now();
    for (ConnectionRecord& record : state.connections) {
      if (record.socket != nullptr && record.busy_since && now - *record.busy_since > state.options.timeout) {
        record.timed_out = true;
        close_socket(*record.socket);
      }
    }
  }
}

// co_spawn's completion handler: counts the connection coroutines still running (the watchdog
// stops after the last), and logs and counts one that threw (a bug, not a network error).
struct OnCoroutineExit {
  RunState* state;
  const char* what_ran;
  bool is_connection;
  void operator()(std::exception_ptr error) const {
    if (is_connection) --state->running;
    if (!error) return;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    }
    std::fprintf(stderr, "load_gen: %s threw: %s\n", what_ran, what.c_str());
    count_error(*state, "exception", what);
  }
};

}  // namespace

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

Report run_open_loop(const Options& options) {
  RunState state;
  state.options = options;
  state.target = tcp::endpoint(net::ip::make_address_v4(options.host), options.port);
  state.request = build_request(options);
  state.report.scheduled =
      options.requests != 0
          ? options.requests
          : static_cast<std::uint64_t>(std::floor(options.rate * static_cast<double>(options.duration.count()) / 1000.0));
  state.report.latencies_us.reserve(state.report.scheduled);
  state.connections.resize(options.connections);

  net::io_context io(1);
  state.start = SteadyClock::now() + kStartDelay;
  state.last_answer = state.start;
  state.running = options.connections;
  for (std::size_t i = 0; i < options.connections; ++i) {
    net::co_spawn(io, run_connection(state, i), OnCoroutineExit{&state, "a connection", true});
  }
  net::co_spawn(io, run_watchdog(state), OnCoroutineExit{&state, "the watchdog", false});
  io.run_for(kStartDelay + options.duration + options.grace);

  Report report = std::move(state.report);
  if (state.in_flight > 0) {
    report.error_kinds["unfinished"] = {state.in_flight, "still in flight when the grace period ended"};
  }
  if (state.next < report.scheduled) {
    report.error_kinds["unsent"] = {report.scheduled - state.next,
                                    "never sent: no connection was free before the grace period ended"};
  }
  report.errors = report.scheduled - report.ok;
  report.wall = std::chrono::duration_cast<std::chrono::microseconds>(state.last_answer - state.start);
  std::sort(report.latencies_us.begin(), report.latencies_us.end());
  return report;
}

}  // namespace load_gen
