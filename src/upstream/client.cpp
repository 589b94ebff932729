#include "tollgate/upstream/client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <array>
#include <charconv>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/intrusive/list.hpp>
#include <openssl/ssl.h>

#include "connection.hpp"
#include "h2_connection.hpp"
#include "tollgate/core/log.hpp"
#include "tollgate/core/write_now.hpp"

namespace tollgate::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

namespace {

// Pools are per origin and trust: a connection whose certificate was verified against one
// provider's ca_file must not carry a request of a provider that trusts other CAs.
// Built in place, once per acquire and release (the `+` chain's temporaries cost ~700
// instructions a call in callgrind).
std::string origin_key(const config::Provider& provider) {
  const config::Url& url = provider.base_url;
  const bool own_cas = url.tls() && !provider.ca_file.empty();
  std::array<char, 8> port;
  const auto [port_end, ec] = std::to_chars(port.data(), port.data() + port.size(), url.port);
  std::string key;
  key.reserve(url.scheme.size() + url.host.size() + 10 + (own_cas ? provider.ca_file.size() + 4 : 0));
  key.append(url.scheme).append("://").append(url.host).append(1, ':').append(port.data(), port_end);
  if (own_cas) key.append(" ca=").append(provider.ca_file);
  return key;
}

std::string host_header(const config::Url& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + url.host + "]" : url.host;
  const std::uint16_t default_port = url.tls() ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
}

// The HTTP/1.1 head of the POST to the provider, written directly (Beast's serializer cost
// ~15,000 instructions per request in callgrind); the body follows it in the same write.
std::string request_head(const config::Provider& provider, std::string_view path, std::string_view request_id,
                         std::size_t body_size) {
  std::string head;
  head.reserve(256);
  head += "POST ";
  head += provider.base_url.path;
  head += path;
  head += " HTTP/1.1\r\nHost: ";
  head += host_header(provider.base_url);
  head += "\r\nContent-Type: application/json\r\nUser-Agent: tollgate\r\nx-request-id: ";
  head += request_id;
  if (provider.api_key) {
    head += "\r\nAuthorization: Bearer ";
    head += *provider.api_key;
  }
  head += "\r\nContent-Length: ";
  head += std::to_string(body_size);
  head += "\r\n\r\n";
  return head;
}

// A parked connection the provider closed (FIN or RST) must not carry the next POST.
// TLS connections may legitimately have unread records (TLS 1.3 session tickets).
bool still_open(Connection& c) {
  char byte;
  const auto n = ::recv(c.tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  return n > 0 && c.tls != nullptr;
}

Failure provider_failure(const config::Provider& p, std::string_view what, const error_code& ec) {
  return fail(Error::upstream_error, "Upstream provider '" + p.name + "' " + std::string(what) +
                                         (ec ? ": " + ec.message() : std::string{}) + ".");
}

// The most body bytes one read_some hands out (HTTP/1.1: the read buffer; HTTP/2: the piece
// taken from the stream's pending bytes, whose flow-control window bounds them to 64 KiB).
constexpr std::size_t kReadPiece = 16 * 1024;

// HTTP/1.1: the most bytes one socket read takes into a connection's buffer, which keeps that
// capacity for the connection's life (a few dozen SSE events; a stream's memory bound counts it).
constexpr std::size_t kReadSize = 4 * 1024;

// Sends the request and reads the response head within first_byte_timeout.
template <class Stream>
asio::awaitable<Result<void>> send_and_read_head(Stream& stream, Connection& conn,
                                                 std::array<asio::const_buffer, 2> request,
                                                 bhttp::response_parser<bhttp::buffer_body>& parser,
                                                 const config::Provider& provider) {
  conn.tcp().expires_after(provider.first_byte_timeout);
  // At once when the socket takes the request (it nearly always does), else asynchronously.
  const std::size_t done = write_now(stream, request);
  if (done != asio::buffer_size(request)) {
    beast::buffers_suffix<std::array<asio::const_buffer, 2>> rest(request);
    rest.consume(done);
    auto [write_ec, written] = co_await asio::async_write(stream, rest, kAsTuple);
    if (write_ec == beast::error::timeout) {
      co_return fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' did not respond in time.");
    }
    if (write_ec) co_return provider_failure(provider, "failed while receiving the request", write_ec);
  }
  auto [head_ec, head_n] = co_await bhttp::async_read_header(stream, conn.buffer, parser, kAsTuple);
  if (head_ec == beast::error::timeout) {
    co_return fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' did not respond in time.");
  }
  if (head_ec) co_return provider_failure(provider, "failed before responding", head_ec);
  co_return Result<void>{};
}

// stream_idle_timeout for the body reads of a plain HTTP/1.1 exchange, without a timer operation
// per read: one timer per exchange checks, when it expires, whether the read in flight has waited
// that long (then cancels it) or started later (then waits again). Beast's per-read timeout
// cost a cancelled and a new timer wait, and their handler, for every SSE chunk relayed. Shared
// with the timer's handler; `socket` is set only while a read is in flight, when the connection
// is certainly alive.
struct IdleWatch {
  explicit IdleWatch(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  asio::ip::tcp::socket* socket = nullptr;  // the socket of the read in flight, else null
  std::chrono::steady_clock::time_point read_started{};
  bool armed = false;  // a timer wait is pending
  bool fired = false;  // a read was cancelled for waiting too long
};

void arm(const std::shared_ptr<IdleWatch>& watch, std::chrono::steady_clock::duration limit) {
  watch->armed = true;
  watch->timer.expires_at(watch->read_started + limit);
  watch->timer.async_wait([watch, limit](const error_code& ec) {
    watch->armed = false;
    if (ec || watch->socket == nullptr) return;  // cancelled, or no read in flight: not needed
    if (std::chrono::steady_clock::now() - watch->read_started >= limit) {
      watch->fired = true;
      error_code ignored;
      watch->socket->cancel(ignored);
      return;
    }
    arm(watch, limit);  // this read started after the one the wait was for
  });
}

// Before a plain connection's body read: the watch notes the read and is armed if it is not.
void watch_read(std::shared_ptr<IdleWatch>& watch, asio::ip::tcp::socket& socket, const config::Provider& provider) {
  if (!watch) watch = std::make_shared<IdleWatch>(socket.get_executor());
  watch->read_started = std::chrono::steady_clock::now();
  watch->socket = &socket;
  if (!watch->armed) arm(watch, provider.stream_idle_timeout);
}

// After it: a read the watch cancelled is a timeout.
error_code read_watched(IdleWatch& watch, error_code ec) {
  watch.socket = nullptr;
  if (ec == asio::error::operation_aborted && watch.fired) return beast::error::timeout;
  return ec;
}

// Reads whatever body bytes are available into `into`; 0 bytes only at the end of the body.
// The parser is eager: one put() takes every chunk the read buffer holds (up to `into`), so a
// read that brought many chunks is handed out as one piece. The socket is read here rather than
// by Beast's http::async_read_some, which would go on reading after an eager put that took a
// chunk and stopped in the next chunk's header, holding back the bytes it had.
template <class Stream>
asio::awaitable<Result<std::size_t>> read_body_some(Stream& stream, Connection& conn,
                                                    bhttp::response_parser<bhttp::buffer_body>& parser,
                                                    std::span<char> into, std::shared_ptr<IdleWatch>& watch,
                                                    const config::Provider& provider) {
  while (!parser.is_done()) {
    if (conn.buffer.size() > 0) {
      auto& body = parser.get().body();
      body.data = into.data();
      body.size = into.size();
      error_code ec;
      const std::size_t used = parser.put(conn.buffer.data(), ec);
      conn.buffer.consume(used);
      if (ec == bhttp::error::need_buffer || ec == bhttp::error::need_more) ec = {};
      if (ec) co_return provider_failure(provider, "failed while sending its response", ec);
      const std::size_t got = into.size() - body.size;
      if (got > 0) co_return got;
      if (parser.is_done()) break;
      if (used > 0 && conn.buffer.size() > 0) continue;  // a chunk header: look again
    }
    // One socket read, within stream_idle_timeout: plain connections under the exchange's
    // IdleWatch (straight on the socket: no coroutine frame or timer operation per read), TLS
    // under Beast's timeout.
    error_code ec;
    std::size_t n = 0;
    if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
      watch_read(watch, stream.socket(), provider);
      std::tie(ec, n) = co_await stream.socket().async_read_some(conn.buffer.prepare(kReadSize), kAsTuple);
      ec = read_watched(*watch, ec);
    } else {
      conn.tcp().expires_after(provider.stream_idle_timeout);
      std::tie(ec, n) = co_await stream.async_read_some(conn.buffer.prepare(kReadSize), kAsTuple);
    }
    conn.buffer.commit(n);
    if (ec == asio::error::eof) {
      // The provider closed the connection: the end of a body that runs to EOF, else a
      // partial message (what Beast's own read reports).
      error_code eof_ec;
      parser.put_eof(eof_ec);
      if (eof_ec) co_return provider_failure(provider, "failed while sending its response", eof_ec);
      continue;
    }
    if (ec == beast::error::timeout) {
      co_return fail(Error::upstream_timeout,
                     "Upstream provider '" + provider.name + "' sent nothing for too long.");
    }
    if (ec) co_return provider_failure(provider, "failed while sending its response", ec);
  }
  co_return std::size_t{0};
}

}  // namespace

// Per-exchange state. HTTP/1.1: the connection it owns, the response parser, and its read
// buffer (the bound on body bytes held per exchange). HTTP/2: `h2`, its stream on a shared
// connection (conn stays null).
struct Exchange::State {
  // A constructor, not aggregate initialisation: that would zero `buffer` (16 KiB) on every
  // exchange, which showed in callgrind.
  State(Client& c, const config::Provider& p, std::unique_ptr<Connection> connection)
      : client(c), provider(p), conn(std::move(connection)) {}
  ~State() {
    if (idle) idle->timer.cancel();  // its handler then lets go of the watch
  }
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  Client& client;
  const config::Provider& provider;  // lives in the config snapshot the request holds
  std::unique_ptr<Connection> conn;
  bhttp::response_parser<bhttp::buffer_body> parser;
  std::string content_type;
  bool cancelled = false;  // never pool a connection whose read was cancelled mid-way
  std::array<char, kReadPiece> buffer;  // filled by reads only
  std::shared_ptr<IdleWatch> idle;      // plain HTTP/1.1, from the first body read that waits
  std::unique_ptr<H2Stream> h2 = nullptr;
};

struct Client::H2Pools {
  std::unordered_map<std::string, std::unique_ptr<H2Pool>> by_origin;
  // `auto` origins whose TLS handshake chose http/1.1: not asked for h2 again by this worker.
  std::unordered_set<std::string> http1_only;
};

struct Client::H2Slot {
  std::shared_ptr<H2Connection> h2;  // with a reserved stream slot
  std::unique_ptr<Connection> http1;  // ALPN chose http/1.1: send this request over it
};

struct Client::H2Attempt {
  Result<std::unique_ptr<Exchange>> result;
  bool retry = false;  // the provider never processed the stream (GOAWAY, REFUSED_STREAM)
};

Exchange::Exchange(std::unique_ptr<State> state) : state_(std::move(state)) {}

Exchange::~Exchange() {
  // Back to the pool only when the body was read to its end and the provider keeps the
  // connection; an exchange abandoned mid-body (client gone, error) closes its connection,
  // which is what cancels the request at the provider.
  auto& s = *state_;
  if (s.conn && !s.cancelled && s.parser.is_done() && s.parser.get().keep_alive() && s.conn->buffer.size() == 0) {
    s.client.release(s.provider, std::move(s.conn));
  }
}

unsigned Exchange::status() const { return state_->h2 ? state_->h2->status : state_->parser.get().result_int(); }

std::string_view Exchange::content_type() const {
  return state_->h2 ? std::string_view(state_->h2->content_type) : std::string_view(state_->content_type);
}

namespace {

Failure cancelled_failure(const config::Provider& provider) {
  return fail(Error::upstream_error, "Upstream request to '" + provider.name + "' was cancelled.");
}

// HTTP/2: the next piece of the stream's body; waits (stream_idle_timeout) for DATA. Each piece
// handed out reopens that much flow-control window, so the provider runs at most one window
// ahead of the reader. Terminal cancellation resets the stream.
asio::awaitable<Result<std::string_view>> read_h2_some(H2Stream& h, const config::Provider& provider) {
  const auto deadline = std::chrono::steady_clock::now() + provider.stream_idle_timeout;
  for (;;) {
    if (h.cancelled) co_return cancelled_failure(provider);
    if (!h.pending.empty()) {
      const std::size_t n = std::min(h.pending.size(), kReadPiece);
      h.delivered.assign(h.pending, 0, n);
      h.pending.erase(0, n);
      h.connection->consume(h, n);
      co_return std::string_view(h.delivered);
    }
    if (h.ended) co_return std::string_view{};
    if (h.closed) {
      co_return fail(Error::upstream_error, "Upstream provider '" + provider.name + "' failed while sending its response: " +
                                                h.failure.value_or("stream closed") + ".");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      h.connection->cancel(h);
      co_return fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' sent nothing for too long.");
    }
    h.signal.expires_at(deadline);
    co_await h.signal.async_wait(kAsTuple);
    const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) {
      h.connection->cancel(h);
      co_return cancelled_failure(provider);
    }
  }
}

}  // namespace

asio::awaitable<Result<std::string_view>> Exchange::read_some() {
  auto& s = *state_;
  if (s.h2) co_return co_await read_h2_some(*s.h2, s.provider);
  if (s.cancelled || !s.conn) {
    // cancel() may come between reads; a later read must not start waiting on the provider.
    s.conn.reset();
    co_return fail(Error::upstream_error, "Upstream request to '" + s.provider.name + "' was cancelled.");
  }
  Result<std::size_t> got = std::size_t{0};
  if (s.conn->tls) {
    got = co_await read_body_some(*s.conn->tls, *s.conn, s.parser, s.buffer, s.idle, s.provider);
  } else {
    got = co_await read_body_some(*s.conn->plain, *s.conn, s.parser, s.buffer, s.idle, s.provider);
  }
  if (!got) {
    s.conn.reset();  // never reuse a connection in an unknown state
    co_return got.error();
  }
  co_return std::string_view(s.buffer.data(), *got);
}

void Exchange::cancel() {
  auto& s = *state_;
  if (s.h2) {
    if (s.h2->connection) s.h2->connection->cancel(*s.h2);
    return;
  }
  if (!s.conn) return;
  boost::system::error_code ignored;
  s.conn->tcp().socket().cancel(ignored);
  s.cancelled = true;
}

asio::awaitable<Result<std::string>> Exchange::read_all(std::size_t max_bytes) {
  std::string body;
  for (;;) {
    auto piece = co_await read_some();
    if (!piece) co_return piece.error();
    if (piece->empty()) co_return body;
    if (body.size() + piece->size() > max_bytes) {
      state_->conn.reset();
      co_return fail(Error::upstream_error, "Upstream provider '" + state_->provider.name +
                                                "' sent a response larger than the gateway accepts.");
    }
    body.append(*piece);
  }
}

struct Client::InUse {
  boost::intrusive::list<Connection, boost::intrusive::constant_time_size<false>> list;
};

Client::Client(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)),
      options_(options),
      in_use_(std::make_unique<InUse>()),
      h2_(std::make_unique<H2Pools>()),
      counts_(std::make_shared<ConnectionCounts>()) {}

ClientStats Client::stats() const {
  return ClientStats{counts_->open - counts_->h2_open, counts_->h2_open, counts_->connects, counts_->h2_goaways};
}

Result<asio::ssl::context*> Client::tls_context(const config::Provider& provider) {
  auto& slot = tls_by_ca_[provider.ca_pem];
  if (slot) return slot.get();
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1);
  context->set_verify_mode(asio::ssl::verify_peer);
  boost::system::error_code ec;
  if (provider.ca_pem.empty()) {
    context->set_default_verify_paths(ec);
  } else {
    context->add_certificate_authority(asio::buffer(provider.ca_pem), ec);
  }
  if (ec) {
    tls_by_ca_.erase(provider.ca_pem);
    return provider_failure(provider, "has an unusable CA bundle (ca_file)", ec);
  }
  slot = std::move(context);
  return slot.get();
}

Client::~Client() { in_use_->list.clear(); }

void Client::abort_all() {
  aborted_ = true;
  idle_.clear();
  for (auto& [origin, pool] : h2_->by_origin) pool->abort_all("closed the connection: the gateway is stopping");
  for (Connection& conn : in_use_->list) {
    boost::system::error_code ignored;
    conn.tcp().socket().close(ignored);
  }
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Client::acquire(const config::Provider& provider) {
  auto& idle = idle_[origin_key(provider)];
  const auto now = std::chrono::steady_clock::now();
  while (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    if (now - conn->idle_since < options_.max_idle_age && still_open(*conn)) {
      in_use_->list.push_back(*conn);
      co_return conn;
    }
  }
  auto dialed = co_await dial(provider, {});
  if (!dialed) co_return dialed.error();
  in_use_->list.push_back(**dialed);
  co_return std::move(*dialed);
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Client::dial(const config::Provider& provider,
                                                                  std::string_view alpn) {
  using namespace asio::experimental::awaitable_operators;
  const config::Url& url = provider.base_url;
  // Name resolution runs on Asio's resolver thread, never on this worker; bounded by a timer.
  tcp::resolver resolver(executor_);
  asio::steady_timer timer(executor_, provider.connect_timeout);
  auto resolved = co_await (resolver.async_resolve(url.host, std::to_string(url.port), kAsTuple) ||
                            timer.async_wait(kAsTuple));
  if (resolved.index() == 1) co_return provider_failure(provider, "could not be resolved in time", {});
  auto [resolve_ec, endpoints] = std::get<0>(std::move(resolved));
  if (resolve_ec) co_return provider_failure(provider, "could not be resolved", resolve_ec);

  auto conn = std::make_unique<Connection>();
  beast::tcp_stream stream(executor_);
  stream.expires_after(provider.connect_timeout);
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kAsTuple);
  if (connect_ec) co_return provider_failure(provider, "could not be reached", connect_ec);
  stream.socket().set_option(tcp::no_delay(true));
  conn->counts = counts_;
  ++counts_->open;
  ++counts_->connects;

  if (!url.tls()) {
    conn->plain = std::make_unique<beast::tcp_stream>(std::move(stream));
    co_return conn;
  }
  auto context = tls_context(provider);
  if (!context) co_return context.error();
  conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(stream), **context);
  if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), url.host.c_str())) {
    co_return provider_failure(provider, "rejected its TLS server name", {});
  }
  if (!alpn.empty() && SSL_set_alpn_protos(conn->tls->native_handle(), reinterpret_cast<const unsigned char*>(alpn.data()),
                                           static_cast<unsigned>(alpn.size())) != 0) {
    co_return provider_failure(provider, "could not offer ALPN", {});
  }
  conn->tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
  auto [handshake_ec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kAsTuple);
  if (handshake_ec) co_return provider_failure(provider, "failed the TLS handshake", handshake_ec);
  co_return conn;
}

namespace {

// ALPN protocol lists, in wire format (length-prefixed names).
constexpr std::string_view kAlpnH2{"\x02h2", 3};
constexpr std::string_view kAlpnH2OrHttp11{"\x02h2\x08http/1.1", 12};

bool negotiated_h2(Connection& conn) {
  const unsigned char* name = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(conn.tls->native_handle(), &name, &length);
  return length == 2 && name[0] == 'h' && name[1] == '2';
}

}  // namespace

bool Client::wants_h2(const config::Provider& provider) const {
  switch (provider.http2) {
    case config::Http2Mode::off: return false;
    case config::Http2Mode::on: return true;
    case config::Http2Mode::auto_: break;
  }
  return provider.base_url.tls() && !h2_->http1_only.contains(origin_key(provider));
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Client::open_h2(const config::Provider& provider, H2Pool& pool) {
  using namespace asio::experimental::awaitable_operators;
  const bool require_h2 = provider.http2 == config::Http2Mode::on;
  const std::string_view alpn = require_h2 ? kAlpnH2 : kAlpnH2OrHttp11;  // named: no `?:` inside co_await
  auto dialed = co_await dial(provider, alpn);
  if (!dialed) co_return dialed.error();
  if ((*dialed)->tls && !negotiated_h2(**dialed)) {
    if (require_h2) {
      co_return provider_failure(provider, "did not agree to HTTP/2 (ALPN); set its http2 to auto or off", {});
    }
    co_return std::move(*dialed);
  }
  auto started = H2Connection::start(executor_, std::move(*dialed), provider, &pool.changed, options_.max_idle_age);
  if (!started) co_return started.error();
  std::shared_ptr<H2Connection> conn = *started;
  pool.connections.push_back(conn);
  // Streams go on it once the provider's SETTINGS tell how many it takes (within connect_timeout).
  asio::steady_timer timer(executor_, provider.connect_timeout);
  const auto ready_by = std::chrono::steady_clock::now() + provider.connect_timeout;
  while (!conn->ready() && !conn->dead()) {
    if (aborted_) co_return provider_failure(provider, "was not asked: the gateway is stopping", {});
    if (std::chrono::steady_clock::now() >= ready_by) {
      conn->abort("sent no HTTP/2 SETTINGS in time");
      break;
    }
    co_await (pool.changed.async_wait(kAsTuple) || timer.async_wait(kAsTuple));
  }
  if (conn->dead()) co_return provider_failure(provider, "did not start HTTP/2 (no SETTINGS in time, or closed)", {});
  co_return std::unique_ptr<Connection>{};
}

asio::awaitable<Result<Client::H2Slot>> Client::acquire_h2(const config::Provider& provider) {
  using namespace asio::experimental::awaitable_operators;
  const std::string origin = origin_key(provider);
  auto& pool_slot = h2_->by_origin[origin];
  if (!pool_slot) pool_slot = std::make_unique<H2Pool>(executor_);
  H2Pool& pool = *pool_slot;
  const auto deadline = std::chrono::steady_clock::now() + provider.first_byte_timeout;
  for (;;) {
    if (aborted_) co_return provider_failure(provider, "was not asked: the gateway is stopping", {});
    if (provider.http2 == config::Http2Mode::auto_ && h2_->http1_only.contains(origin)) {
      H2Slot use_http1;
      co_return std::move(use_http1);
    }
    if (auto conn = pool.take_slot()) {
      H2Slot slot;
      slot.h2 = std::move(conn);
      co_return std::move(slot);
    }
    std::size_t usable = 0;
    for (const auto& c : pool.connections) usable += c->accepts_streams() ? 1 : 0;
    // Dial when nothing is being dialed, or when more requests wait than the dials in flight
    // will likely take (kAssumed per connection), within the per-origin cap.
    constexpr std::size_t kAssumed = 100;
    if (usable + pool.connecting < options_.max_h2_connections_per_origin &&
        pool.waiting >= pool.connecting * kAssumed) {
      ++pool.connecting;
      auto opened = co_await open_h2(provider, pool);
      --pool.connecting;
      pool.changed.cancel();
      if (!opened) co_return opened.error();
      if (*opened) {  // an `auto` provider chose http/1.1
        h2_->http1_only.insert(origin);
        in_use_->list.push_back(**opened);
        H2Slot slot;
        slot.http1 = std::move(*opened);
        co_return std::move(slot);
      }
      continue;
    }
    ++pool.waiting;
    asio::steady_timer timer(executor_);
    timer.expires_at(deadline);
    co_await (pool.changed.async_wait(kAsTuple) || timer.async_wait(kAsTuple));
    --pool.waiting;
    const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) co_return cancelled_failure(provider);
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' did not respond in time.");
    }
  }
}

asio::awaitable<Client::H2Attempt> Client::send_h2(const config::Provider& provider,
                                                   std::shared_ptr<H2Connection> conn, std::string target,
                                                   std::string body, std::string request_id) {
  auto state = std::unique_ptr<Exchange::State>(new Exchange::State(*this, provider, nullptr));
  state->h2 = std::make_unique<H2Stream>(executor_);
  H2Stream& h = *state->h2;
  std::vector<std::pair<std::string, std::string>> headers{
      {":method", "POST"},
      {":scheme", provider.base_url.tls() ? "https" : "http"},
      {":authority", host_header(provider.base_url)},
      {":path", std::move(target)},
      {"content-type", "application/json"},
      {"content-length", std::to_string(body.size())},
      {"user-agent", "tollgate"},
      {"x-request-id", std::move(request_id)}};
  if (provider.api_key) headers.emplace_back("authorization", "Bearer " + *provider.api_key);
  auto submitted = conn->submit(h, std::move(headers), std::move(body));
  if (!submitted) {
    H2Attempt attempt{submitted.error(), h.refused};
    co_return std::move(attempt);
  }

  // The response head within first_byte_timeout.
  const auto deadline = std::chrono::steady_clock::now() + provider.first_byte_timeout;
  while (!h.head_done) {
    if (h.closed) {
      H2Attempt attempt{provider_failure(provider, "failed before responding: " + h.failure.value_or("stream closed"), {}),
                        h.refused};
      co_return std::move(attempt);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      H2Attempt attempt{fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' did not respond in time."),
                        false};
      co_return std::move(attempt);
    }
    h.signal.expires_at(deadline);
    co_await h.signal.async_wait(kAsTuple);
    const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) {
      H2Attempt attempt{cancelled_failure(provider), false};
      co_return std::move(attempt);
    }
  }
  H2Attempt attempt{std::unique_ptr<Exchange>(new Exchange(std::move(state))), false};
  co_return std::move(attempt);
}

void Client::release(const config::Provider& provider, std::unique_ptr<Connection> connection) {
  connection->unlink();
  if (aborted_) return;
  auto& idle = idle_[origin_key(provider)];
  if (idle.size() >= options_.max_idle_per_origin) return;
  connection->idle_since = std::chrono::steady_clock::now();
  idle.push_back(std::move(connection));
}

asio::awaitable<Result<std::unique_ptr<Exchange>>> Client::send(const config::Provider& provider,
                                                                std::string_view path, std::string body,
                                                                std::string request_id) {
  if (!provider.api_key_env.empty() && !provider.api_key) {
    co_return fail(Error::upstream_error, "Upstream provider '" + provider.name + "' has no API key: set " +
                                              provider.api_key_env + " in the gateway's environment.");
  }
  if (aborted_) co_return provider_failure(provider, "was not asked: the gateway is stopping", {});
  std::unique_ptr<Connection> http1;
  if (wants_h2(provider)) {
    // HTTP/2. A stream the provider never processed (GOAWAY below its id, REFUSED_STREAM) is
    // safe to send again, even a POST: at most twice more, on another connection.
    for (int attempt = 1;; ++attempt) {
      auto slot = co_await acquire_h2(provider);
      if (!slot) co_return slot.error();
      if (!slot->h2) {
        http1 = std::move(slot->http1);  // an `auto` provider chose HTTP/1.1
        break;
      }
      auto sent = co_await send_h2(provider, std::move(slot->h2), provider.base_url.path + std::string(path), body,
                                   request_id);
      if (sent.result || !sent.retry || attempt == 3 || aborted_) co_return std::move(sent.result);
      log::warn("upstream HTTP/2 stream refused (GOAWAY or REFUSED_STREAM); sending it again",
                {{"provider", provider.name}, {"request_id", request_id}});
    }
  }

  // HTTP/1.1.
  Result<std::unique_ptr<Connection>> acquired = std::move(http1);
  if (!*acquired) acquired = co_await acquire(provider);
  if (!acquired) co_return acquired.error();
  if (aborted_) co_return provider_failure(provider, "was not asked: the gateway is stopping", {});

  const std::string request_head_bytes = request_head(provider, path, request_id, body.size());
  const std::array<asio::const_buffer, 2> request{asio::buffer(request_head_bytes), asio::buffer(body)};

  auto state = std::unique_ptr<Exchange::State>(new Exchange::State(*this, provider, std::move(*acquired)));
  state->parser.body_limit(boost::none);  // bounded by read_all's max or streamed through
  Result<void> head = Result<void>{};
  // Statements, not `?:` around co_await (see README: GCC 12.2 double-frees temporaries there).
  if (state->conn->tls) {
    head = co_await send_and_read_head(*state->conn->tls, *state->conn, request, state->parser, provider);
  } else {
    head = co_await send_and_read_head(*state->conn->plain, *state->conn, request, state->parser, provider);
  }
  if (!head) {
    state->conn.reset();
    co_return head.error();
  }
  // Eager (read_header turned it off): one parse takes every body chunk already read, up to the
  // read piece, so a relay that fell behind writes what piled up at once, not one write per chunk.
  state->parser.eager(true);
  const auto& response = state->parser.get();
  if (const auto it = response.find(bhttp::field::content_type); it != response.end()) {
    state->content_type = std::string(it->value());
  }
  co_return std::unique_ptr<Exchange>(new Exchange(std::move(state)));
}

}  // namespace tollgate::upstream
