// Accepts connections, reads requests with Beast, routes them and writes the mock's replies,
// including the injected delays, failures and connection resets.
#include "server.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "log.hpp"
#include "mock_request.hpp"
#include "mock_response.hpp"

namespace mock_upstream {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;

constexpr std::uint64_t kBodyLimit = 64ull << 20;
constexpr std::uint32_t kHeaderLimit = 64 << 10;
// How long a kept-alive connection may sit idle, or take to send one whole request.
constexpr auto kReadTimeout = std::chrono::seconds(300);
// How long one write may take before the downstream is considered stuck.
constexpr auto kWriteTimeout = std::chrono::seconds(60);

using ReusePort = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// The last /v1/* request seen by one worker. The mutex is uncontended except while a test
// reads /mock/last, which scans every worker's slot for the highest sequence.
struct RecordSlot {
  std::mutex mutex;
  RecordedRequest request;
};

// Shared by all workers; outlives every io_context (declared before them in Server::Impl).
struct Shared {
  Defaults defaults;
  std::string models_body = render_models();
  std::atomic<std::uint64_t> requests{0};     // /v1/* requests; also the id counter
  std::atomic<std::uint64_t> connections{0};  // accepted TCP connections
  std::atomic<std::uint64_t> failures{0};     // coroutines that ended with an exception
  std::vector<std::unique_ptr<RecordSlot>> slots;
};

struct Worker {
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  RecordSlot* slot = nullptr;
};

// Completion handler for every co_spawn: logs and counts a coroutine that threw.
struct LogFailure {
  Shared* shared;
  const char* what;

  void operator()(std::exception_ptr failure) const {
    if (!failure) return;
    shared->failures.fetch_add(1, std::memory_order_relaxed);
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      log_line(std::string(what) + " failed: " + e.what());
    } catch (...) {
      log_line(std::string(what) + " failed with a non-standard exception");
    }
  }
};

// One connection's state. It lives in run_session's frame; the helpers below take it by
// reference and are only ever co_awaited directly by run_session, so the reference never
// outlives the frame.
struct Connection {
  beast::tcp_stream stream;
  net::steady_timer timer;
  Shared* shared;
  RecordSlot* slot;
};

// What the session does after a reply.
enum class Next {
  keep_alive,  // read the next request
  close,       // half-close and end the session
  reset,       // the socket was already aborted with RST
};

// SO_LINGER {1, 0} then close: the kernel sends RST and drops anything unsent.
void reset_connection(Connection& conn) {
  beast::error_code ignored;
  conn.stream.socket().set_option(net::socket_base::linger(true, 0), ignored);
  conn.stream.socket().close(ignored);
}

std::uint64_t record_request(Connection& conn, const Request& req) {
  const std::uint64_t sequence = conn.shared->requests.fetch_add(1, std::memory_order_relaxed) + 1;
  std::lock_guard lock(conn.slot->mutex);
  RecordedRequest& r = conn.slot->request;
  r.sequence = sequence;
  const auto method = req.method_string();
  r.method.assign(method.data(), method.size());
  const auto target = req.target();
  r.target.assign(target.data(), target.size());
  std::size_t count = 0;
  for (const auto& field : req) {
    if (count == r.headers.size()) r.headers.emplace_back();
    const auto name = field.name_string();
    const auto value = field.value();
    r.headers[count].first.assign(name.data(), name.size());
    r.headers[count].second.assign(value.data(), value.size());
    ++count;
  }
  r.headers.resize(count);
  r.body.assign(req.body());
  return sequence;
}

// Empty when nothing has been recorded yet.
std::string render_last(Shared& shared) {
  std::uint64_t best = 0;
  std::string out;
  for (const auto& slot : shared.slots) {
    std::lock_guard lock(slot->mutex);
    if (slot->request.sequence > best) {
      best = slot->request.sequence;
      out = render_recorded(slot->request);
    }
  }
  return out;
}

// The simdjson parser is per thread and only used synchronously, between awaits.
ParseResult parse_body(Endpoint endpoint, std::string_view body, const Defaults& defaults) {
  thread_local simdjson::dom::parser parser;
  return parse_request(parser, endpoint, body, defaults);
}

net::awaitable<void> sleep_ms(Connection& conn, std::uint32_t ms) {
  conn.timer.expires_after(std::chrono::milliseconds(ms));
  beast::error_code ignored;
  co_await conn.timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
}

net::awaitable<Next> write_json(Connection& conn, unsigned version, bool keep_alive,
                                http::status status, std::string body) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "mock_upstream");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  conn.stream.expires_after(kWriteTimeout);
  beast::error_code ec;
  co_await http::async_write(conn.stream, res, net::redirect_error(net::use_awaitable, ec));
  co_return !ec && keep_alive ? Next::keep_alive : Next::close;
}

net::awaitable<Next> write_error(Connection& conn, unsigned version, bool keep_alive,
                                 unsigned status, std::string_view message, std::string_view param,
                                 std::string_view code) {
  co_return co_await write_json(conn, version, keep_alive, static_cast<http::status>(status),
                                render_error(message, error_type_for(status), param, code));
}

// Non-streaming reset_after K > 0: the full head, the first K body bytes, then RST.
net::awaitable<Next> write_truncated(Connection& conn, unsigned version, std::string body,
                                     std::uint64_t body_bytes) {
  http::response<http::string_body> res{http::status::ok, version};
  res.set(http::field::server, "mock_upstream");
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  http::response_serializer<http::string_body> serializer{res};
  conn.stream.expires_after(kWriteTimeout);
  beast::error_code ec;
  co_await http::async_write_header(conn.stream, serializer,
                                    net::redirect_error(net::use_awaitable, ec));
  if (!ec) {
    const auto prefix = std::min<std::uint64_t>(body_bytes, res.body().size());
    co_await net::async_write(conn.stream, net::buffer(res.body().data(), prefix),
                              net::redirect_error(net::use_awaitable, ec));
  }
  reset_connection(conn);
  co_return Next::reset;
}

// Chunked text/event-stream; each SSE event (and comment) is its own chunk and its own write.
net::awaitable<Next> write_stream(Connection& conn, unsigned version, bool keep_alive, Plan plan,
                                  std::string id, std::int64_t created) {
  http::response<http::empty_body> res{http::status::ok, version};
  res.set(http::field::server, "mock_upstream");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> serializer{res};
  conn.stream.expires_after(kWriteTimeout);
  beast::error_code ec;
  co_await http::async_write_header(conn.stream, serializer,
                                    net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return Next::close;

  SseScript script(plan, id, created);
  std::uint64_t tokens_written = 0;
  while (auto step = script.next()) {
    if (step->kind != SseStep::Kind::role && plan.knobs.reset_after &&
        tokens_written == *plan.knobs.reset_after) {
      reset_connection(conn);
      co_return Next::reset;
    }
    if (step->kind != SseStep::Kind::comment && plan.knobs.chunk_delay_ms > 0) {
      co_await sleep_ms(conn, plan.knobs.chunk_delay_ms);
    }
    conn.stream.expires_after(kWriteTimeout);
    co_await net::async_write(conn.stream, http::make_chunk(net::buffer(step->text)),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return Next::close;
    if (step->kind == SseStep::Kind::token) ++tokens_written;
  }
  conn.stream.expires_after(kWriteTimeout);
  co_await net::async_write(conn.stream, http::make_chunk_last(),
                            net::redirect_error(net::use_awaitable, ec));
  co_return !ec && keep_alive ? Next::keep_alive : Next::close;
}

// POST /v1/chat/completions, /v1/completions and /v1/embeddings.
net::awaitable<Next> serve_api(Connection& conn, Request req, Endpoint endpoint,
                               std::uint64_t sequence) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  ParseResult parsed = parse_body(endpoint, req.body(), conn.shared->defaults);
  if (const auto* bad = std::get_if<BadRequest>(&parsed)) {
    co_return co_await write_error(conn, version, keep_alive, 400, bad->message, bad->param,
                                   bad->code);
  }
  Plan plan = std::get<Plan>(std::move(parsed));
  const Knobs& knobs = plan.knobs;

  if (!plan.stream && knobs.reset_after && *knobs.reset_after == 0) {
    reset_connection(conn);
    co_return Next::reset;
  }
  if (knobs.first_byte_delay_ms > 0) co_await sleep_ms(conn, knobs.first_byte_delay_ms);
  if (knobs.fail_status) {
    co_return co_await write_error(conn, version, keep_alive, *knobs.fail_status, "mock failure",
                                   "", "mock_failure");
  }

  std::string body;
  if (endpoint == Endpoint::embeddings) {
    body = render_embeddings(plan);
  } else {
    std::string id = response_id(endpoint, sequence);
    const std::int64_t created = std::time(nullptr);
    if (plan.stream) {
      co_return co_await write_stream(conn, version, keep_alive, std::move(plan), std::move(id),
                                      created);
    }
    body = render_completion(plan, id, created);
  }
  if (knobs.reset_after) {
    co_return co_await write_truncated(conn, version, std::move(body), *knobs.reset_after);
  }
  co_return co_await write_json(conn, version, keep_alive, http::status::ok, std::move(body));
}

net::awaitable<Next> serve(Connection& conn, Request req) {
  const unsigned version = req.version();
  const bool keep_alive = req.keep_alive();
  // Views into req's header; only used before req is moved into serve_api.
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  std::uint64_t sequence = 0;
  if (path.starts_with("/v1/")) sequence = record_request(conn, req);

  if (req.method() == http::verb::post) {
    if (path == "/v1/chat/completions") {
      co_return co_await serve_api(conn, std::move(req), Endpoint::chat, sequence);
    }
    if (path == "/v1/completions") {
      co_return co_await serve_api(conn, std::move(req), Endpoint::completions, sequence);
    }
    if (path == "/v1/embeddings") {
      co_return co_await serve_api(conn, std::move(req), Endpoint::embeddings, sequence);
    }
  } else if (req.method() == http::verb::get) {
    if (path == "/healthz") {
      co_return co_await write_json(conn, version, keep_alive, http::status::ok,
                                    "{\"status\":\"ok\"}");
    }
    if (path == "/v1/models") {
      co_return co_await write_json(conn, version, keep_alive, http::status::ok,
                                    conn.shared->models_body);
    }
    if (path == "/mock/stats") {
      co_return co_await write_json(
          conn, version, keep_alive, http::status::ok,
          render_stats(conn.shared->requests.load(std::memory_order_relaxed),
                       conn.shared->connections.load(std::memory_order_relaxed)));
    }
    if (path == "/mock/last") {
      std::string last = render_last(*conn.shared);
      if (!last.empty()) {
        co_return co_await write_json(conn, version, keep_alive, http::status::ok, std::move(last));
      }
      co_return co_await write_error(conn, version, keep_alive, 404, "no /v1/ request recorded yet",
                                     "", "not_found");
    }
  }
  const auto method = req.method_string();
  co_return co_await write_error(
      conn, version, keep_alive, 404,
      "no route for " + std::string(method.data(), method.size()) + " " + std::string(path), "",
      "not_found");
}

// A Beast parse error the downstream deserves a 400 for (not EOF, not a truncated message).
bool is_malformed_request(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

net::awaitable<void> run_session(tcp::socket socket, Shared* shared, RecordSlot* slot) {
  const auto executor = socket.get_executor();
  Connection conn{beast::tcp_stream(std::move(socket)), net::steady_timer(executor), shared, slot};
  beast::flat_buffer buffer;
  Next next = Next::keep_alive;
  while (next == Next::keep_alive) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    conn.stream.expires_after(kReadTimeout);
    beast::error_code ec;
    co_await http::async_read(conn.stream, buffer, parser,
                              net::redirect_error(net::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_await write_error(conn, 11, false, 413, "request body exceeds 64 MiB", "",
                           "body_too_large");
      next = Next::close;
    } else if (is_malformed_request(ec)) {
      co_await write_error(conn, 11, false, 400, "malformed HTTP request", "", "bad_request");
      next = Next::close;
    } else if (ec) {
      next = Next::close;  // end of stream, timeout or reset: nothing to answer
    } else {
      next = co_await serve(conn, parser.release());
    }
  }
  if (next == Next::close) {
    beast::error_code ignored;
    conn.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

net::awaitable<void> accept_loop(tcp::acceptor* acceptor, Shared* shared, RecordSlot* slot) {
  net::steady_timer backoff(acceptor->get_executor());
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted) co_return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning.
      log_line("accept failed: " + ec.message());
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    shared->connections.fetch_add(1, std::memory_order_relaxed);
    net::co_spawn(acceptor->get_executor(), run_session(std::move(socket), shared, slot),
                  LogFailure{shared, "session"});
  }
}

}  // namespace

struct Server::Impl {
  Options options;
  Shared shared;  // before workers: it must outlive every io_context
  std::vector<std::unique_ptr<Worker>> workers;
};

Server::Server(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->shared.defaults = impl_->options.defaults;
  for (unsigned i = 0; i < impl_->options.threads; ++i) {
    impl_->shared.slots.push_back(std::make_unique<RecordSlot>());
  }
}

Server::~Server() = default;

std::string Server::listen() {
  tcp::endpoint endpoint(net::ip::make_address(impl_->options.listen_host),
                         impl_->options.listen_port);
  for (unsigned i = 0; i < impl_->options.threads; ++i) {
    auto worker = std::make_unique<Worker>();
    worker->slot = impl_->shared.slots[i].get();
    tcp::acceptor& acceptor = worker->acceptor;
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.set_option(ReusePort(true));
    acceptor.bind(endpoint);
    acceptor.listen(net::socket_base::max_listen_connections);
    if (i == 0) endpoint.port(acceptor.local_endpoint().port());
    net::co_spawn(worker->ioc, accept_loop(&acceptor, &impl_->shared, worker->slot),
                  LogFailure{&impl_->shared, "accept loop"});
    impl_->workers.push_back(std::move(worker));
  }
  const std::string host = endpoint.address().to_string();
  const std::string port = std::to_string(endpoint.port());
  return endpoint.address().is_v6() ? "[" + host + "]:" + port : host + ":" + port;
}

void Server::run() {
  auto& workers = impl_->workers;
  net::signal_set signals(workers.front()->ioc, SIGINT, SIGTERM);
  signals.async_wait([&workers](const beast::error_code& ec, int) {
    if (ec) return;
    for (auto& worker : workers) worker->ioc.stop();
  });
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < workers.size(); ++i) {
    threads.emplace_back([worker = workers[i].get()] { worker->ioc.run(); });
  }
  workers.front()->ioc.run();
  for (auto& thread : threads) thread.join();
}

}  // namespace mock_upstream
