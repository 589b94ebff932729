// Accepts connections (plain TCP or TLS), reads requests with Beast, routes them and writes the
// mock's replies, including the injected delays, failures and connection resets. The session code
// is templated on the stream type; TLS only adds the handshake and the close_notify at the end.
#include "server.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <unordered_map>
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
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <nghttp2/nghttp2.h>
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
  // --h2: HTTP/2 (h2c by preface, h2 by ALPN), its SETTINGS and the GOAWAY knob.
  bool h2 = false;
  std::uint32_t max_concurrent_streams = 100;
  std::uint32_t goaway_after = 0;  // 0: never
  std::atomic<std::uint64_t> h2_connections{0};
  std::atomic<std::uint64_t> h2_streams{0};
  std::atomic<std::uint64_t> h2_resets_received{0};
  std::atomic<std::uint64_t> h2_goaways_sent{0};
  std::atomic<std::uint64_t> h2_streams_refused{0};
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
  stats.h2_connections = shared.h2_connections.load(std::memory_order_relaxed);
  stats.h2_streams = shared.h2_streams.load(std::memory_order_relaxed);
  stats.h2_resets_received = shared.h2_resets_received.load(std::memory_order_relaxed);
  stats.h2_goaways_sent = shared.h2_goaways_sent.load(std::memory_order_relaxed);
  stats.h2_streams_refused = shared.h2_streams_refused.load(std::memory_order_relaxed);
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

template <class Conn>
std::uint64_t record_request(Conn& conn, const Request& req) {
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

template <class Conn>
net::awaitable<void> sleep_ms(Conn& conn, std::uint32_t ms) {
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

template <class Conn>
net::awaitable<Next> write_error(Conn& conn, unsigned version, bool keep_alive,
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
  if (plan.knobs.one_write) {
    // Every event still its own HTTP chunk, but all of them and the last chunk in one write: a
    // client (the gateway) then finds many chunks in one read.
    std::string burst;
    while (auto step = script.next()) {
      const std::string_view text = plan.knobs.timestamps ? script.stamp(monotonic_us()) : step->text;
      char size[32];
      burst.append(size, static_cast<std::size_t>(std::snprintf(size, sizeof size, "%zx\r\n", text.size())));
      burst.append(text).append("\r\n");
    }
    burst.append("0\r\n\r\n");
    tcp_layer(conn).expires_after(kWriteTimeout);
    co_await net::async_write(conn.stream, net::buffer(burst), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return Next::close;
    tally.set(StreamOutcome::completed);
    co_return keep_alive ? Next::keep_alive : Next::close;
  }
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

// ---- HTTP/2 (--h2) ----
// One nghttp2 server session per connection. Its read and write loops run in run_h2's frame;
// every request stream gets its own responder coroutine (serve() with an H2Reply), which
// shares the session and its stream by shared_ptr and checks `closed` after every await.

// One request stream and the response body the responder feeds to nghttp2.
struct H2ServerStream {
  explicit H2ServerStream(const net::any_io_executor& executor) : timer(executor) {}
  std::int32_t id = 0;
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool responding = false;  // the responder was started
  std::string out;          // response body bytes; nghttp2 takes them from out_offset
  std::size_t out_offset = 0;
  bool out_done = false;    // no more bytes will be added
  bool closed = false;      // nghttp2 closed the stream (completed, reset, or session gone)
  std::uint32_t close_code = 0;
  net::steady_timer timer;  // the responder's sleeps; cancelled when the stream closes
};

struct H2ServerSession {
  H2ServerSession(const net::any_io_executor& executor, Shared* s, RecordSlot* r)
      : write_signal(executor), shared(s), slot(r) {}
  ~H2ServerSession() {
    if (session != nullptr) nghttp2_session_del(session);
  }
  H2ServerSession(const H2ServerSession&) = delete;
  H2ServerSession& operator=(const H2ServerSession&) = delete;

  void kick() { write_signal.cancel(); }
  std::shared_ptr<H2ServerStream> find(std::int32_t id) {
    const auto it = streams.find(id);
    return it == streams.end() ? nullptr : it->second;
  }

  nghttp2_session* session = nullptr;
  std::unordered_map<std::int32_t, std::shared_ptr<H2ServerStream>> streams;
  net::steady_timer write_signal;  // never expires; cancelled when nghttp2 has bytes to send
  Shared* shared;
  RecordSlot* slot;
  bool closed = false;
  std::uint32_t request_streams = 0;
  std::int32_t goaway_last_id = -1;  // >= 0 once GOAWAY was submitted
  std::weak_ptr<H2ServerSession> self;
};

// The "connection" serve() writes one HTTP/2 response to.
struct H2Reply {
  std::shared_ptr<H2ServerSession> session;
  std::shared_ptr<H2ServerStream> stream;
  net::steady_timer& timer;
  Shared* shared;
  RecordSlot* slot;

  bool gone() const { return session->closed || stream->closed; }
};

ssize_t h2_read_out(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                    std::uint32_t* data_flags, nghttp2_data_source*, void* user) {
  auto stream = static_cast<H2ServerSession*>(user)->find(stream_id);
  if (!stream) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return 0;
  }
  const std::size_t n = std::min(length, stream->out.size() - stream->out_offset);
  std::memcpy(buf, stream->out.data() + stream->out_offset, n);
  stream->out_offset += n;
  if (stream->out_offset == stream->out.size()) {
    if (stream->out_done) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else if (n == 0) {
      return NGHTTP2_ERR_DEFERRED;
    }
  }
  return static_cast<ssize_t>(n);
}

// Submits the response head; the body comes from stream->out.
bool h2_submit_head(H2Reply& r, unsigned status, std::string_view content_type) {
  if (r.gone()) return false;
  const std::string status_text = std::to_string(status);
  const std::string type(content_type);
  const std::array<std::pair<std::string_view, std::string_view>, 3> fields{
      {{":status", status_text}, {"content-type", type}, {"server", "mock_upstream"}}};
  std::vector<nghttp2_nv> nva;
  for (const auto& [name, value] : fields) {
    nva.push_back({const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
                   const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())), name.size(),
                   value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.read_callback = h2_read_out;
  const int rv = nghttp2_submit_response(r.session->session, r.stream->id, nva.data(), nva.size(), &provider);
  r.session->kick();
  return rv == 0;
}

void h2_more_out(H2Reply& r) {
  if (r.gone()) return;
  if (r.stream->out_offset > (1u << 20)) {  // drop what nghttp2 already took
    r.stream->out.erase(0, r.stream->out_offset);
    r.stream->out_offset = 0;
  }
  nghttp2_session_resume_data(r.session->session, r.stream->id);
  r.session->kick();
}

void reset_connection(H2Reply& r) {
  if (r.gone()) return;
  nghttp2_submit_rst_stream(r.session->session, NGHTTP2_FLAG_NONE, r.stream->id, NGHTTP2_INTERNAL_ERROR);
  r.session->kick();
}

// Waits (bounded) until nghttp2 took every body byte, or the stream closed.
net::awaitable<void> h2_drain(H2Reply& r) {
  for (int i = 0; i < 2000 && !r.gone() && r.stream->out_offset < r.stream->out.size(); ++i) {
    co_await sleep_ms(r, 1);
  }
}

net::awaitable<Next> write_json(H2Reply& r, unsigned, bool, http::status status, std::string body) {
  r.stream->out = std::move(body);
  r.stream->out_done = true;
  h2_submit_head(r, static_cast<unsigned>(status), "application/json");
  co_return Next::keep_alive;
}

net::awaitable<Next> write_truncated(H2Reply& r, unsigned, std::string body, std::uint64_t body_bytes) {
  r.stream->out = body.substr(0, std::min<std::uint64_t>(body_bytes, body.size()));
  if (h2_submit_head(r, 200, "application/json")) {
    h2_more_out(r);
    co_await h2_drain(r);
  }
  reset_connection(r);
  co_return Next::reset;
}

// Same events and pacing as the HTTP/1.1 stream, as DATA frames; a client's RST_STREAM closes
// the stream, which the next check after a sleep sees (counted as aborted).
net::awaitable<Next> write_stream(H2Reply& r, unsigned, bool, Plan plan, std::string id, std::int64_t created) {
  StreamTally tally(*r.shared);
  if (!h2_submit_head(r, 200, "text/event-stream")) co_return Next::close;
  SseScript script(plan, id, created);
  std::uint64_t tokens_written = 0;
  while (auto step = script.next()) {
    if (step->kind != SseStep::Kind::role && plan.knobs.reset_after && tokens_written == *plan.knobs.reset_after) {
      co_await h2_drain(r);
      reset_connection(r);
      tally.set(StreamOutcome::reset);
      co_return Next::reset;
    }
    if (step->kind != SseStep::Kind::comment && plan.knobs.chunk_delay_ms > 0) {
      co_await sleep_ms(r, plan.knobs.chunk_delay_ms);
    }
    // Backpressure: a client that does not open its window holds the stream here.
    for (int i = 0; i < 60000 && !r.gone() && r.stream->out.size() - r.stream->out_offset > (256u << 10); ++i) {
      co_await sleep_ms(r, 1);
    }
    if (r.gone()) co_return Next::close;
    const std::string_view text = plan.knobs.timestamps ? script.stamp(monotonic_us()) : step->text;
    r.stream->out.append(text);
    h2_more_out(r);
    if (step->kind == SseStep::Kind::token) ++tokens_written;
  }
  r.stream->out_done = true;
  h2_more_out(r);
  // Completed once the client has the whole body (the stream closes cleanly), bounded.
  for (int i = 0; i < 600 && !r.gone(); ++i) {
    r.timer.expires_after(std::chrono::milliseconds(100));
    beast::error_code ignored;
    co_await r.timer.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
  if (r.stream->closed && r.stream->close_code == NGHTTP2_NO_ERROR) tally.set(StreamOutcome::completed);
  co_return Next::keep_alive;
}

// POST /v1/chat/completions, /v1/completions and /v1/embeddings. Conn is a Connection<Stream>
// (HTTP/1.1) or an H2Reply (one HTTP/2 stream).
template <class Conn>
net::awaitable<Next> serve_api(Conn& conn, Request req, Endpoint endpoint,
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

template <class Conn>
net::awaitable<Next> serve(Conn& conn, Request req) {
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

// One HTTP/2 request stream: rebuilt as a Beast request so serve() and /mock/last treat it as
// any other request.
net::awaitable<void> h2_respond(std::shared_ptr<H2ServerSession> session, std::shared_ptr<H2ServerStream> stream) {
  Request req;
  req.method_string(stream->method);
  req.target(stream->path);
  for (const auto& [name, value] : stream->headers) req.insert(name, value);
  req.body() = std::move(stream->body);
  req.prepare_payload();
  H2Reply reply{session, stream, stream->timer, session->shared, session->slot};
  co_await serve(reply, std::move(req));
}

struct H2ServerCallbacks {
  static H2ServerSession& self(void* user) { return *static_cast<H2ServerSession*>(user); }

  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    H2ServerSession& s = self(user);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (s.goaway_last_id >= 0 && frame->hd.stream_id > s.goaway_last_id) {
      // After our GOAWAY: never processed, so the client may retry it elsewhere.
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      s.shared->h2_streams_refused.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    auto stream = std::make_shared<H2ServerStream>(s.write_signal.get_executor());
    stream->id = frame->hd.stream_id;
    s.streams[stream->id] = stream;
    s.shared->h2_streams.fetch_add(1, std::memory_order_relaxed);
    ++s.request_streams;
    if (s.shared->goaway_after != 0 && s.request_streams == s.shared->goaway_after) {
      s.goaway_last_id = stream->id;
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR, nullptr, 0);
      s.shared->h2_goaways_sent.fetch_add(1, std::memory_order_relaxed);
    }
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    auto stream = self(user).find(frame->hd.stream_id);
    if (!stream || stream->responding) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":method") {
      stream->method = v;
    } else if (n == ":path") {
      stream->path = v;
    } else if (n == ":authority") {
      stream->headers.emplace_back("host", v);
    } else if (!n.starts_with(':')) {
      stream->headers.emplace_back(std::string(n), v);
    }
    return 0;
  }

  static int on_data_chunk_recv(nghttp2_session*, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                                std::size_t len, void* user) {
    auto stream = self(user).find(stream_id);
    if (stream && stream->body.size() + len <= kBodyLimit) stream->body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2ServerSession& s = self(user);
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
      s.shared->h2_resets_received.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    auto stream = s.find(frame->hd.stream_id);
    if (!stream || stream->responding) return 0;
    stream->responding = true;
    net::co_spawn(s.write_signal.get_executor(), h2_respond(s.self.lock(), stream), LogFailure{s.shared, "h2 stream"});
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
    H2ServerSession& s = self(user);
    const auto it = s.streams.find(stream_id);
    if (it == s.streams.end()) return 0;
    it->second->closed = true;
    it->second->close_code = error_code;
    it->second->timer.cancel();
    s.streams.erase(it);
    return 0;
  }
};

template <class Stream>
net::awaitable<void> h2_read_loop(Connection<Stream>& conn, H2ServerSession& s) {
  std::array<char, 16 * 1024> buffer{};
  for (;;) {
    beast::error_code ec;
    const std::size_t n =
        co_await conn.stream.async_read_some(net::buffer(buffer), net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    const auto rv = nghttp2_session_mem_recv(s.session, reinterpret_cast<const std::uint8_t*>(buffer.data()), n);
    if (rv < 0) co_return;
    s.kick();
  }
}

template <class Stream>
net::awaitable<void> h2_write_loop(Connection<Stream>& conn, H2ServerSession& s) {
  std::string out;
  for (;;) {
    out.clear();
    for (;;) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(s.session, &data);
      if (n < 0) co_return;
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    beast::error_code ec;
    if (!out.empty()) {
      co_await net::async_write(conn.stream, net::buffer(out), net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      continue;
    }
    if (nghttp2_session_want_read(s.session) == 0 && nghttp2_session_want_write(s.session) == 0) co_return;
    s.write_signal.expires_at(net::steady_timer::time_point::max());
    co_await s.write_signal.async_wait(net::redirect_error(net::use_awaitable, ec));
  }
}

// Serves one HTTP/2 connection; `initial` holds bytes already read (the preface, for h2c).
template <class Stream>
net::awaitable<void> run_h2(Connection<Stream>& conn, std::string initial) {
  using namespace net::experimental::awaitable_operators;
  conn.shared->h2_connections.fetch_add(1, std::memory_order_relaxed);
  tcp_layer(conn).expires_never();
  auto s = std::make_shared<H2ServerSession>(conn.timer.get_executor(), conn.shared, conn.slot);
  s->self = s;
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, &H2ServerCallbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2ServerCallbacks::on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2ServerCallbacks::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &H2ServerCallbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2ServerCallbacks::on_stream_close);
  const int rv = nghttp2_session_server_new(&s->session, callbacks, s.get());
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) throw std::runtime_error("nghttp2_session_server_new failed");
  const nghttp2_settings_entry settings{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, conn.shared->max_concurrent_streams};
  nghttp2_submit_settings(s->session, NGHTTP2_FLAG_NONE, &settings, 1);
  if (!initial.empty() &&
      nghttp2_session_mem_recv(s->session, reinterpret_cast<const std::uint8_t*>(initial.data()), initial.size()) < 0) {
    co_return;
  }
  co_await (h2_read_loop(conn, *s) || h2_write_loop(conn, *s));
  s->closed = true;
  for (auto& [id, stream] : s->streams) {
    stream->closed = true;
    stream->close_code = NGHTTP2_CANCEL;
    stream->timer.cancel();
  }
  s->streams.clear();
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

// h2c with prior knowledge: the client opens with the HTTP/2 preface. Reads until the bytes
// seen so far stop matching it or all of it arrived; they stay in `buffer` for either protocol.
net::awaitable<bool> sniff_h2_preface(Connection<PlainStream>& conn, beast::flat_buffer& buffer) {
  constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  for (;;) {
    const auto data = buffer.data();
    const std::string_view seen(static_cast<const char*>(data.data()), data.size());
    const std::size_t n = std::min(seen.size(), kPreface.size());
    if (seen.substr(0, n) != kPreface.substr(0, n)) co_return false;
    if (n == kPreface.size()) co_return true;
    tcp_layer(conn).expires_after(kReadTimeout);
    beast::error_code ec;
    const std::size_t got = co_await conn.stream.async_read_some(buffer.prepare(kPreface.size() - n),
                                                                 net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return false;
    buffer.commit(got);
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
  if (shared->h2) {
    bool h2 = false;
    if constexpr (kIsTls<Stream>) {
      const unsigned char* name = nullptr;
      unsigned int length = 0;
      SSL_get0_alpn_selected(conn.stream.native_handle(), &name, &length);
      h2 = length == 2 && name[0] == 'h' && name[1] == '2';
    } else {
      h2 = co_await sniff_h2_preface(conn, buffer);
    }
    if (h2) {
      const auto initial = buffer.data();
      co_await run_h2(conn, std::string(static_cast<const char*>(initial.data()), initial.size()));
      co_await close_gracefully(conn);
      co_return;
    }
  }
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
                unsigned int in_len, void* arg) {
  constexpr std::string_view kHttp11 = "http/1.1";
  // --h2: h2 first when the client offers it.
  if (arg != nullptr && *static_cast<const bool*>(arg)) {
    for (unsigned int i = 0; i < in_len;) {
      const unsigned int len = in[i];
      if (len > in_len - i - 1) break;
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == "h2") {
        *out = in + i + 1;
        *out_len = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
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
  SSL_CTX_set_alpn_select_cb(context->native_handle(), select_alpn, const_cast<bool*>(&options.h2));
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
  impl_->shared.h2 = impl_->options.h2;
  impl_->shared.max_concurrent_streams = impl_->options.max_concurrent_streams;
  impl_->shared.goaway_after = impl_->options.goaway_after;
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
