#include "tollgate/upstream/client.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <array>
#include <optional>
#include <span>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/intrusive/list.hpp>

#include "tollgate/core/log.hpp"

namespace tollgate::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// One upstream connection, plain or TLS, with its read buffer. Owned by one request at a
// time (and then linked into its Client's in-use list, for abort_all), or parked in its
// Client's idle pool.
class Connection : public boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  std::unique_ptr<beast::tcp_stream> plain;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since{};

  beast::tcp_stream& tcp() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

namespace {

std::string origin_key(const config::Url& url) {
  return url.scheme + "://" + url.host + ":" + std::to_string(url.port);
}

std::string host_header(const config::Url& url) {
  const bool ipv6 = url.host.find(':') != std::string::npos;
  std::string host = ipv6 ? "[" + url.host + "]" : url.host;
  const std::uint16_t default_port = url.tls() ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
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

// Sends the request and reads the response head within first_byte_timeout.
template <class Stream>
asio::awaitable<Result<void>> send_and_read_head(Stream& stream, Connection& conn,
                                                 bhttp::request<bhttp::string_body>& req,
                                                 bhttp::response_parser<bhttp::buffer_body>& parser,
                                                 const config::Provider& provider) {
  conn.tcp().expires_after(provider.first_byte_timeout);
  auto [write_ec, written] = co_await bhttp::async_write(stream, req, kAsTuple);
  if (write_ec == beast::error::timeout) {
    co_return fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' did not respond in time.");
  }
  if (write_ec) co_return provider_failure(provider, "failed while receiving the request", write_ec);
  auto [head_ec, head_n] = co_await bhttp::async_read_header(stream, conn.buffer, parser, kAsTuple);
  if (head_ec == beast::error::timeout) {
    co_return fail(Error::upstream_timeout, "Upstream provider '" + provider.name + "' did not respond in time.");
  }
  if (head_ec) co_return provider_failure(provider, "failed before responding", head_ec);
  co_return Result<void>{};
}

// Reads whatever body bytes are available into `into`; 0 bytes only at the end of the body.
template <class Stream>
asio::awaitable<Result<std::size_t>> read_body_some(Stream& stream, Connection& conn,
                                                    bhttp::response_parser<bhttp::buffer_body>& parser,
                                                    std::span<char> into, const config::Provider& provider) {
  while (!parser.is_done()) {
    auto& body = parser.get().body();
    body.data = into.data();
    body.size = into.size();
    conn.tcp().expires_after(provider.stream_idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_some(stream, conn.buffer, parser, kAsTuple);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec == beast::error::timeout) {
      co_return fail(Error::upstream_timeout,
                     "Upstream provider '" + provider.name + "' sent nothing for too long.");
    }
    if (ec) co_return provider_failure(provider, "failed while sending its response", ec);
    const std::size_t got = into.size() - body.size;
    if (got > 0) co_return got;
  }
  co_return std::size_t{0};
}

}  // namespace

// Per-exchange state: the connection it owns, the response parser, and its read buffer
// (16 KiB: the bound on body bytes held per exchange).
struct Exchange::State {
  Client& client;
  const config::Provider& provider;  // lives in the config snapshot the request holds
  std::unique_ptr<Connection> conn;
  bhttp::response_parser<bhttp::buffer_body> parser;
  std::string content_type;
  bool cancelled = false;  // never pool a connection whose read was cancelled mid-way
  std::array<char, 16 * 1024> buffer{};
};

Exchange::Exchange(std::unique_ptr<State> state) : state_(std::move(state)) {}

Exchange::~Exchange() {
  // Back to the pool only when the body was read to its end and the provider keeps the
  // connection; an exchange abandoned mid-body (client gone, error) closes its connection,
  // which is what cancels the request at the provider.
  auto& s = *state_;
  if (s.conn && !s.cancelled && s.parser.is_done() && s.parser.get().keep_alive() && s.conn->buffer.size() == 0) {
    s.client.release(s.provider.base_url, std::move(s.conn));
  }
}

unsigned Exchange::status() const { return state_->parser.get().result_int(); }

std::string_view Exchange::content_type() const { return state_->content_type; }

asio::awaitable<Result<std::string_view>> Exchange::read_some() {
  auto& s = *state_;
  if (s.cancelled || !s.conn) {
    // cancel() may come between reads; a later read must not start waiting on the provider.
    s.conn.reset();
    co_return fail(Error::upstream_error, "Upstream request to '" + s.provider.name + "' was cancelled.");
  }
  Result<std::size_t> got = std::size_t{0};
  if (s.conn->tls) {
    got = co_await read_body_some(*s.conn->tls, *s.conn, s.parser, s.buffer, s.provider);
  } else {
    got = co_await read_body_some(*s.conn->plain, *s.conn, s.parser, s.buffer, s.provider);
  }
  if (!got) {
    s.conn.reset();  // never reuse a connection in an unknown state
    co_return got.error();
  }
  co_return std::string_view(s.buffer.data(), *got);
}

void Exchange::cancel() {
  auto& s = *state_;
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
    : executor_(std::move(executor)), options_(options), in_use_(std::make_unique<InUse>()) {}

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
  for (Connection& conn : in_use_->list) {
    boost::system::error_code ignored;
    conn.tcp().socket().close(ignored);
  }
}

asio::awaitable<Result<std::unique_ptr<Connection>>> Client::acquire(const config::Provider& provider) {
  using namespace asio::experimental::awaitable_operators;
  const config::Url& url = provider.base_url;
  auto& idle = idle_[origin_key(url)];
  const auto now = std::chrono::steady_clock::now();
  while (!idle.empty()) {
    auto conn = std::move(idle.back());
    idle.pop_back();
    if (now - conn->idle_since < options_.max_idle_age && still_open(*conn)) {
      in_use_->list.push_back(*conn);
      co_return conn;
    }
  }

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

  if (!url.tls()) {
    conn->plain = std::make_unique<beast::tcp_stream>(std::move(stream));
    in_use_->list.push_back(*conn);
    co_return conn;
  }
  auto context = tls_context(provider);
  if (!context) co_return context.error();
  conn->tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(stream), **context);
  if (!SSL_set_tlsext_host_name(conn->tls->native_handle(), url.host.c_str())) {
    co_return provider_failure(provider, "rejected its TLS server name", {});
  }
  conn->tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
  auto [handshake_ec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kAsTuple);
  if (handshake_ec) co_return provider_failure(provider, "failed the TLS handshake", handshake_ec);
  in_use_->list.push_back(*conn);
  co_return conn;
}

void Client::release(const config::Url& origin, std::unique_ptr<Connection> connection) {
  connection->unlink();
  if (aborted_) return;
  auto& idle = idle_[origin_key(origin)];
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
  auto acquired = co_await acquire(provider);
  if (!acquired) co_return acquired.error();
  if (aborted_) co_return provider_failure(provider, "was not asked: the gateway is stopping", {});

  bhttp::request<bhttp::string_body> req{bhttp::verb::post, provider.base_url.path + std::string(path), 11};
  req.set(bhttp::field::host, host_header(provider.base_url));
  req.set(bhttp::field::content_type, "application/json");
  req.set(bhttp::field::user_agent, "tollgate");
  req.set("x-request-id", request_id);
  if (provider.api_key) req.set(bhttp::field::authorization, "Bearer " + *provider.api_key);
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();

  auto state = std::unique_ptr<Exchange::State>(new Exchange::State{*this, provider, std::move(*acquired), {}, {}});
  state->parser.body_limit(boost::none);  // bounded by read_all's max or streamed through
  Result<void> head = Result<void>{};
  // Statements, not `?:` around co_await (see README: GCC 12.2 double-frees temporaries there).
  if (state->conn->tls) {
    head = co_await send_and_read_head(*state->conn->tls, *state->conn, req, state->parser, provider);
  } else {
    head = co_await send_and_read_head(*state->conn->plain, *state->conn, req, state->parser, provider);
  }
  if (!head) {
    state->conn.reset();
    co_return head.error();
  }
  const auto& response = state->parser.get();
  if (const auto it = response.find(bhttp::field::content_type); it != response.end()) {
    state->content_type = std::string(it->value());
  }
  co_return std::unique_ptr<Exchange>(new Exchange(std::move(state)));
}

}  // namespace tollgate::upstream
