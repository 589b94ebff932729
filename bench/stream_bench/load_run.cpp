// The benchmark's streams: connect, POST one streaming request, decode the chunked SSE body
// incrementally and time every content chunk against the mock's "mock_sent_us" stamp.
#include "load_run.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>
#include <string_view>

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

#include "sse_scan.hpp"

namespace stream_bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// The clock the mock stamps chunks with (CLOCK_MONOTONIC), in microseconds.
std::uint64_t monotonic_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000u;
}

enum class Phase { waiting, connecting, sending, reading, ended };

const char* phase_name(Phase phase) {
  switch (phase) {
    case Phase::waiting: return "waiting to start";
    case Phase::connecting: return "connecting";
    case Phase::sending: return "sending the request";
    case Phase::reading: return "reading the response";
    case Phase::ended: return "ended";
  }
  return "?";
}

struct StreamRecord {
  Phase phase = Phase::waiting;
  bool ok = false;
};

// Everything the streams share. Single-threaded: only the io_context's thread touches it.
// Declared before the io_context in run_load, so it outlives every stream's frame.
struct RunState {
  Options options;
  tcp::endpoint target;
  std::string request;  // the same HTTP request for every stream
  std::vector<StreamRecord> streams;
  RunReport report;
  unsigned active = 0;
  SteadyClock::time_point start;
  SteadyClock::time_point last_end;
};

std::string build_request(const Options& options) {
  const std::string body = "{\"model\":\"" + options.model +
                           "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"bench\"}],"
                           "\"mock\":{\"completion_tokens\":" + std::to_string(options.completion_tokens) +
                           ",\"chunk_delay_ms\":" + std::to_string(options.chunk_delay_ms) +
                           ",\"timestamps\":true}}";
  std::string request = "POST " + options.path + " HTTP/1.1\r\nHost: " + options.host + ":" +
                        std::to_string(options.port) +
                        "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n";
  if (!options.key.empty()) request += "Authorization: Bearer " + options.key + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return request;
}

void fail(RunState& state, StreamRecord& record, const std::string& kind, const std::string& detail) {
  record.phase = Phase::ended;
  auto& entry = state.report.failures[kind];
  if (entry.count++ == 0) entry.example = detail;
}

// One stream, start to end. Every await is bounded by the whole-run deadline: run_load stops
// the io_context then and counts what is still running as failed.
net::awaitable<void> run_stream(RunState& state, std::size_t index) {
  StreamRecord& record = state.streams[index];
  const auto executor = co_await net::this_coro::executor;
  beast::error_code ec;

  net::steady_timer timer(executor);
  timer.expires_at(state.start + state.options.ramp * index / state.options.streams);
  co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));

  record.phase = Phase::connecting;
  tcp::socket socket(executor);
  co_await socket.async_connect(state.target, net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    fail(state, record, "connect", ec.message());
    co_return;
  }
  state.report.peak_concurrent = std::max(state.report.peak_concurrent, ++state.active);

  record.phase = Phase::sending;
  co_await net::async_write(socket, net::buffer(state.request),
                            net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    --state.active;
    fail(state, record, "write", ec.message());
    co_return;
  }

  record.phase = Phase::reading;
  bool done = false;
  bool error_event = false;
  unsigned content = 0;
  SseScanner scanner;
  auto on_event = [&](std::string_view data) {
    const EventInfo info = classify(data);
    switch (info.kind) {
      case EventInfo::Kind::content:
        ++content;
        ++state.report.content_chunks;
        if (info.sent_us) {
          const std::uint64_t now = monotonic_us();
          const std::uint64_t latency = now > *info.sent_us ? now - *info.sent_us : 0;
          state.report.latencies_us.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(latency, UINT32_MAX)));
        } else {
          ++state.report.unstamped_chunks;
        }
        return;
      case EventInfo::Kind::error: error_event = true; break;
      case EventInfo::Kind::done: done = true; break;
      case EventInfo::Kind::other: break;
    }
    ++state.report.other_events;
  };
  // Chunked bodies go through this callback as the bytes arrive, not into the string body;
  // only a non-chunked (error) body lands there.
  auto on_chunk_body = [&](std::uint64_t, std::string_view body, beast::error_code&) -> std::size_t {
    scanner.feed(body, on_event);
    return body.size();
  };
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  parser.eager(true);
  parser.on_chunk_body(on_chunk_body);
  beast::flat_buffer buffer;
  while (!parser.is_done()) {
    co_await http::async_read_some(socket, buffer, parser, net::redirect_error(net::use_awaitable, ec));
    if (ec) break;
  }
  --state.active;
  state.last_end = SteadyClock::now();
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);

  if (parser.is_header_done() && parser.get().result_int() != 200) {
    const auto& res = parser.get();
    fail(state, record, "status " + std::to_string(res.result_int()), res.body().substr(0, 300));
  } else if (ec) {
    fail(state, record, "read", ec.message() + " after " + std::to_string(content) + " chunks");
  } else if (!parser.chunked()) {
    fail(state, record, "not chunked", "a 200 response without chunked transfer-encoding");
  } else if (error_event) {
    fail(state, record, "error event", "an SSE error event after " + std::to_string(content) + " chunks");
  } else if (!done) {
    fail(state, record, "no [DONE]", "the body ended after " + std::to_string(content) + " chunks");
  } else if (content != state.options.completion_tokens) {
    fail(state, record, "chunk count", std::to_string(content) + " content chunks");
  } else {
    record.ok = true;
    record.phase = Phase::ended;
  }
}

// co_spawn's completion handler: a stream that threw (a bug, not a network error) is logged and
// counted as failed, kind "exception".
struct OnStreamExit {
  RunState* state;
  std::size_t index;
  void operator()(std::exception_ptr error) const {
    if (!error) return;
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    }
    std::fprintf(stderr, "stream_bench: stream %zu threw: %s\n", index, what.c_str());
    fail(*state, state->streams[index], "exception", what);
  }
};

}  // namespace

std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
}

RunReport run_load(const Options& options) {
  RunState state;
  state.options = options;
  state.target = tcp::endpoint(net::ip::make_address_v4(options.host), options.port);
  state.request = build_request(options);
  state.streams.resize(options.streams);
  state.report.streams = options.streams;
  state.report.latencies_us.reserve(std::size_t{options.streams} * options.completion_tokens);

  net::io_context io(1);
  state.start = SteadyClock::now();
  state.last_end = state.start;
  for (std::size_t i = 0; i < options.streams; ++i) {
    net::co_spawn(io, run_stream(state, i), OnStreamExit{&state, i});
  }
  io.run_for(options.deadline);

  RunReport report = std::move(state.report);
  for (const StreamRecord& record : state.streams) {
    if (record.ok) {
      ++report.ok;
      continue;
    }
    ++report.failed;
    if (record.phase != Phase::ended) {
      auto& entry = report.failures["deadline"];
      if (entry.count++ == 0) entry.example = std::string("still ") + phase_name(record.phase);
    }
  }
  report.wall = std::chrono::duration_cast<std::chrono::milliseconds>(
      (report.failures.contains("deadline") ? SteadyClock::now() : state.last_end) - state.start);
  std::sort(report.latencies_us.begin(), report.latencies_us.end());
  return report;
}

}  // namespace stream_bench
