// Accepts connections (plain TCP or TLS), reads requests with Beast, routes them and writes the
// mock's replies, including the injected delays, failures and connection resets. The session code
// is templated on the stream type; TLS only adds the handshake and the close_notify at the end.
#include "server.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/ssl.h>
#include <sys/socket.h>

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
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

constexpr std::uint64_t kBodyLimit = 64ull << 20;
constexpr std::uint32_t kHeaderLimit = 64 << 10;
// How long a kept-alive connection may sit idle, or take to send one whole request.
constexpr auto kReadTimeout = std::chrono::seconds(300);
// How long one write may take before the downstream is considered stuck.
constexpr auto kWriteTimeout = std::chrono::seconds(60);
// How long a client may take to complete the TLS handshake.
constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// How long we wait for the client's close_notify after sending ours.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);

using ReusePort = net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// The last /v1/* request seen by one worker. The mutex is uncontended except while a test
// reads /mock/last, which scans every worker's slot for the highest sequence.
struct RecordSlot {
  std::mutex mutex;
  RecordedRequest request;
};

// Shared by all workers; outlives every io_context (declared before them in Server::Impl).
// The stream counters use the default (seq_cst) order so that a /mock/stats reader that loads the
// outcomes before streams_started never sees more streams ended than started.
struct Shared {
  Defaults defaults;
  std::string models_body = render_models();
  net::ssl::context* tls = nullptr;  // null in plain mode; immutable once the workers run
  std::atomic<std::uint64_t> requests{0};                // /v1/* requests; also the id counter
  std::atomic<std::uint64_t> connections{0};             // accepted TCP connections
  std::atomic<std::uint64_t> tls_handshake_failures{0};  // see Stats
  std::atomic<std::uint64_t> streams_started{0};
  std::atomic<std::uint64_t> streams_completed{0};
  std::atomic<std::uint64_t> streams_aborted{0};
  std::atomic<std::uint64_t> streams_reset{0};
  std::atomic<std::uint64_t> failures{0};  // coroutines that ended with an exception
  std::vector<std::unique_ptr<RecordSlot>> slots;
};

Stats read_stats(const Shared& shared) {
  Stats stats;
  stats.requests = shared.requests.load(std::memory_order_relaxed);
  stats.connections = shared.connections.load(std::memory_order_relaxed);
  stats.tls_handshake_failures = shared.tls_handshake_failures.load(std::memory_order_relaxed);
  stats.streams_completed = shared.streams_completed.load();
  stats.streams_aborted = shared.streams_aborted.load();
  stats.streams_reset = shared.streams_reset.load();
  stats.streams_started = shared.streams_started.load();  // last: see Shared
  return stats;
}

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
// outlives the frame. Stream is PlainStream or TlsStream.
template <class Stream>
struct Connection {
  Stream stream;
  net::steady_timer timer;
  Shared* shared;
  RecordSlot* slot;
};

// The TCP layer under either stream: timeouts, socket options, RST.
template <class Stream>
beast::tcp_stream& tcp_layer(Connection<Stream>& conn) {
  return beast::get_lowest_layer(conn.stream);
}

// What the session does after a reply.
enum class Next {
  keep_alive,  // read the next request
  close,       // half-close and end the session
  reset,       // the socket was already aborted with RST
};

// SO_LINGER {1, 0} then close: the kernel sends RST and drops anything unsent. In TLS mode this
// bypasses TLS on purpose (no close_notify), exactly like a provider that drops the connection.
template <class Stream>
void reset_connection(Connection<Stream>& conn) {
  beast::error_code ignored;
  tcp_layer(conn).socket().set_option(net::socket_base::linger(true, 0), ignored);
  tcp_layer(conn).socket().close(ignored);
}

// True when the downstream has closed or reset its side of the connection. A non-blocking
// MSG_PEEK, so it never waits and consumes nothing: EOF or a socket error means gone; pending
// bytes (a pipelined request, a TLS record) or nothing to read mean still there. A peer that only
// half-closes while we stream to it counts as gone; HTTP clients do not do that.
template <class Stream>
bool peer_gone(Connection<Stream>& conn) {
  char byte = 0;
  const ssize_t n =
      ::recv(tcp_layer(conn).socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return n == 0;
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

template <class Stream>
std::uint64_t record_request(Connection<Stream>& conn, const Request& req) {
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

template <class Stream>
net::awaitable<void> sleep_ms(Connection<Stream>& conn, std::uint32_t ms) {
  conn.timer.expires_after(std::chrono::milliseconds(ms));
  beast::error_code ignored;
  co_await conn.timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
}

template <class Stream>
net::awaitable<Next> write_json(Connection<Stream>& conn, unsigned version, bool keep_alive,
                                http::status status, std::string body) {
  http::response<http::string_body> res{status, version};
  res.set(http::field::server, "mock_upstream");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  tcp_layer(conn).expires_after(kWriteTimeout);
  beast::error_code ec;
  co_await http::async_write(conn.stream, res, net::redirect_error(net::use_awaitable, ec));
  co_return !ec && keep_alive ? Next::keep_alive : Next::close;
}

template <class Stream>
net::awaitable<Next> write_error(Connection<Stream>& conn, unsigned version, bool keep_alive,
                                 unsigned status, std::string_view message, std::string_view param,
                                 std::string_view code) {
  co_return co_await write_json(conn, version, keep_alive, static_cast<http::status>(status),
                                render_error(message, error_type_for(status), param, code));
}

// Non-streaming reset_after K > 0: the full head, the first K body bytes, then RST.
template <class Stream>
net::awaitable<Next> write_truncated(Connection<Stream>& conn, unsigned version, std::string body,
                                     std::uint64_t body_bytes) {
  http::response<http::string_body> res{http::status::ok, version};
  res.set(http::field::server, "mock_upstream");
  res.set(http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.prepare_payload();
  http::response_serializer<http::string_body> serializer{res};
  tcp_layer(conn).expires_after(kWriteTimeout);
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

// How one streamed response ended, for /mock/stats.
enum class StreamOutcome {
  completed,  // [DONE] and the terminating chunk were written
  aborted,    // a write failed, the peer left, or the coroutine was torn down mid-stream
  reset,      // mock.reset_after: the mock reset the connection on purpose
};

// Counts one streamed response: streams_started on construction and exactly one outcome on
// destruction. The outcome stays `aborted` unless the stream says otherwise, so every early
// return and every exception counts as an abort without further bookkeeping.
class StreamTally {
 public:
  explicit StreamTally(Shared& shared) : shared_(shared) { shared_.streams_started.fetch_add(1); }
  ~StreamTally() { counter().fetch_add(1); }
  StreamTally(const StreamTally&) = delete;
  StreamTally& operator=(const StreamTally&) = delete;

  void set(StreamOutcome outcome) { outcome_ = outcome; }

 private:
  std::atomic<std::uint64_t>& counter() {
    switch (outcome_) {
      case StreamOutcome::completed: return shared_.streams_completed;
      case StreamOutcome::reset: return shared_.streams_reset;
      case StreamOutcome::aborted: break;
    }
    return shared_.streams_aborted;
  }

  Shared& shared_;
  StreamOutcome outcome_ = StreamOutcome::aborted;
};

// CLOCK_MONOTONIC in microseconds: the clock a benchmark client on the same machine reads, so
// "mock_sent_us" (--timestamps) can be subtracted from its own reading.
std::uint64_t monotonic_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000u +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000u;
}

// Chunked text/event-stream; each SSE event (and comment) is its own chunk and its own write.
// After every chunk_delay_ms sleep it checks that the downstream is still there, so a client
// that disconnects mid-stream is counted as aborted at the next event, not a write or two later
// (the first write after the peer's FIN still succeeds).
template <class Stream>
net::awaitable<Next> write_stream(Connection<Stream>& conn, unsigned version, bool keep_alive,
                                  Plan plan, std::string id, std::int64_t created) {
  StreamTally tally(*conn.shared);
  http::response<http::empty_body> res{http::status::ok, version};
  res.set(http::field::server, "mock_upstream");
  res.set(http::field::content_type, "text/event-stream");
  res.set(http::field::cache_control, "no-cache");
  res.keep_alive(keep_alive);
  res.chunked(true);
  http::response_serializer<http::empty_body> serializer{res};
  tcp_layer(conn).expires_after(kWriteTimeout);
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
      tally.set(StreamOutcome::reset);
      co_return Next::reset;
    }
    if (step->kind != SseStep::Kind::comment && plan.knobs.chunk_delay_ms > 0) {
      co_await sleep_ms(conn, plan.knobs.chunk_delay_ms);
      if (peer_gone(conn)) co_return Next::close;
    }
    const std::string_view text =
        plan.knobs.timestamps ? script.stamp(monotonic_us()) : step->text;
    tcp_layer(conn).expires_after(kWriteTimeout);
    co_await net::async_write(conn.stream, http::make_chunk(net::buffer(text)),
                              net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return Next::close;
    if (step->kind == SseStep::Kind::token) ++tokens_written;
  }
  tcp_layer(conn).expires_after(kWriteTimeout);
  co_await net::async_write(conn.stream, http::make_chunk_last(),
                            net::redirect_error(net::use_awaitable, ec));
  if (ec) co_return Next::close;
  tally.set(StreamOutcome::completed);
  co_return keep_alive ? Next::keep_alive : Next::close;
}

// POST /v1/chat/completions, /v1/completions and /v1/embeddings.
template <class Stream>
net::awaitable<Next> serve_api(Connection<Stream>& conn, Request req, Endpoint endpoint,
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

template <class Stream>
net::awaitable<Next> serve(Connection<Stream>& conn, Request req) {
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
      co_return co_await write_json(conn, version, keep_alive, http::status::ok,
                                    render_stats(read_stats(*conn.shared)));
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

// The server side of the TLS handshake. A failure (the client rejected our certificate, spoke
// plain HTTP, or went away) ends only this connection, with one log line and a stat.
net::awaitable<bool> handshake(Connection<TlsStream>& conn) {
  tcp_layer(conn).expires_after(kHandshakeTimeout);
  beast::error_code ec;
  co_await conn.stream.async_handshake(net::ssl::stream_base::server,
                                       net::redirect_error(net::use_awaitable, ec));
  if (!ec) co_return true;
  conn.shared->tls_handshake_failures.fetch_add(1, std::memory_order_relaxed);
  log_line("TLS handshake failed: " + ec.message());
  co_return false;
}

// Ends a connection we are done with: close_notify first in TLS mode (its errors, including
// stream_truncated from a client that just closes, are expected and ignored), then FIN.
template <class Stream>
net::awaitable<void> close_gracefully(Connection<Stream>& conn) {
  beast::error_code ignored;
  if constexpr (kIsTls<Stream>) {
    tcp_layer(conn).expires_after(kTlsShutdownTimeout);
    co_await conn.stream.async_shutdown(net::redirect_error(net::use_awaitable, ignored));
  }
  tcp_layer(conn).socket().shutdown(tcp::socket::shutdown_send, ignored);
}

template <class Stream>
Stream make_stream(tcp::socket socket, Shared* shared) {
  if constexpr (kIsTls<Stream>) {
    return TlsStream(beast::tcp_stream(std::move(socket)), *shared->tls);
  } else {
    return PlainStream(std::move(socket));
  }
}

template <class Stream>
net::awaitable<void> run_session(tcp::socket socket, Shared* shared, RecordSlot* slot) {
  const auto executor = socket.get_executor();
  Connection<Stream> conn{make_stream<Stream>(std::move(socket), shared),
                          net::steady_timer(executor), shared, slot};
  if constexpr (kIsTls<Stream>) {
    if (!co_await handshake(conn)) co_return;
  }
  beast::flat_buffer buffer;
  Next next = Next::keep_alive;
  while (next == Next::keep_alive) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    tcp_layer(conn).expires_after(kReadTimeout);
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
  if (next == Next::close) co_await close_gracefully(conn);
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
    if (shared->tls) {
      net::co_spawn(acceptor->get_executor(),
                    run_session<TlsStream>(std::move(socket), shared, slot),
                    LogFailure{shared, "session"});
    } else {
      net::co_spawn(acceptor->get_executor(),
                    run_session<PlainStream>(std::move(socket), shared, slot),
                    LogFailure{shared, "session"});
    }
  }
}

// ALPN: choose http/1.1 when the client offers it (curl also offers h2, which the mock does not
// speak); otherwise go on without ALPN rather than failing the handshake.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void*) {
  constexpr std::string_view kHttp11 = "http/1.1";
  // `in` is the client's list of length-prefixed protocol names.
  for (unsigned int i = 0; i < in_len;) {
    const unsigned int len = in[i];
    if (len > in_len - i - 1) break;
    const std::string_view name(reinterpret_cast<const char*>(in + i + 1), len);
    if (name == kHttp11) {
      *out = in + i + 1;
      *out_len = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

// TLS 1.2+ server context from PEM files. Throws std::runtime_error naming the file (start-up).
std::unique_ptr<net::ssl::context> make_tls_context(const Options& options) {
  auto context = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  if (SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION) != 1) {
    throw std::runtime_error("cannot require TLS 1.2");
  }
  context->set_options(net::ssl::context::default_workarounds |
                       net::ssl::context::single_dh_use);
  try {
    context->use_certificate_chain_file(options.tls_cert);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("--tls-cert " + options.tls_cert + ": " + e.what());
  }
  try {
    context->use_private_key_file(options.tls_key, net::ssl::context::pem);
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error("--tls-key " + options.tls_key + ": " + e.what());
  }
  SSL_CTX_set_alpn_select_cb(context->native_handle(), select_alpn, nullptr);
  return context;
}

}  // namespace

struct Server::Impl {
  Options options;
  std::unique_ptr<net::ssl::context> tls;  // null in plain mode; before shared, which points to it
  Shared shared;  // before workers: it must outlive every io_context
  std::vector<std::unique_ptr<Worker>> workers;
};

Server::Server(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->shared.defaults = impl_->options.defaults;
  if (!impl_->options.tls_cert.empty()) {
    impl_->tls = make_tls_context(impl_->options);
    impl_->shared.tls = impl_->tls.get();
  }
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
