// HTTP stage: what a new downstream connection speaks. Plain TCP: the HTTP/2 client preface
// (h2c with prior knowledge) or HTTP/1.1. TLS: the protocol ALPN selected.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "serve.hpp"
#include "tollgate/core/log.hpp"

namespace tollgate::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
// ALPN protocol list in wire format, in our order of preference.
constexpr unsigned char kAlpnServer[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

std::string_view bytes_of(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

// True while what arrived so far could still be the start of the preface.
bool may_be_preface(std::string_view bytes) {
  const auto n = std::min(bytes.size(), kClientPreface.size());
  return bytes.substr(0, n) == kClientPreface.substr(0, n);
}

int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned in_len,
                void*) {
  unsigned char* selected = nullptr;
  // SSL_select_next_proto walks our list in order and picks the first the client offered.
  if (SSL_select_next_proto(&selected, out_len, kAlpnServer, sizeof(kAlpnServer), in, in_len) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // nothing in common: go on without ALPN (HTTP/1.1)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

std::string openssl_reason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  std::array<char, 256> text{};
  ERR_error_string_n(code, text.data(), text.size());
  return text.data();
}

}  // namespace

const char* protection_name(Http2Protection reason) {
  switch (reason) {
    case Http2Protection::rapid_reset: return "rapid_reset";
    case Http2Protection::continuation_flood: return "continuation_flood";
    case Http2Protection::settings_flood: return "settings_flood";
    case Http2Protection::ping_flood: return "ping_flood";
    case Http2Protection::header_list_too_large: return "header_list_too_large";
    case Http2Protection::flood: return "flood";
  }
  return "unknown";
}

asio::awaitable<void> run_session(asio::ip::tcp::socket socket, SessionOptions options, Handler& handler,
                                  SessionTracker& tracker) {
  socket.set_option(asio::ip::tcp::no_delay(true));
  PlainStream stream(std::move(socket));
  beast::flat_buffer buffer;
  // Read until the bytes are either the whole preface or certainly not it; the deadline is the
  // first request's header deadline, which HTTP/1.1 then keeps counting.
  stream.expires_after(options.header_timeout);
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kAsTuple);
    buffer.commit(n);
    if (ec) co_return;
    const auto bytes = bytes_of(buffer);
    if (!may_be_preface(bytes)) break;
    if (bytes.size() >= kClientPreface.size()) {
      stream.expires_never();
      std::string preread(bytes);
      co_await serve_h2(stream, std::move(preread), options, handler, tracker);
      co_return;
    }
  }
  co_await serve_http1(stream, std::move(buffer), options, handler, tracker);
}

asio::awaitable<void> run_tls_session(asio::ip::tcp::socket socket, asio::ssl::context& tls, SessionOptions options,
                                      Handler& handler, SessionTracker& tracker) {
  socket.set_option(asio::ip::tcp::no_delay(true));
  TlsStream stream(beast::tcp_stream(std::move(socket)), tls);
  beast::get_lowest_layer(stream).expires_after(options.header_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsTuple);
  if (ec) {
    log::write(log::Level::debug, "TLS handshake failed", {{"error", ec.message()}});
    co_return;
  }
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(stream.native_handle(), &alpn, &alpn_len);
  if (alpn_len == 2 && std::memcmp(alpn, "h2", 2) == 0) {
    beast::get_lowest_layer(stream).expires_never();
    co_await serve_h2(stream, std::string{}, options, handler, tracker);
    co_return;
  }
  co_await serve_http1(stream, beast::flat_buffer{}, options, handler, tracker);
}

void configure_server_tls(asio::ssl::context& tls, const std::string& cert_file, const std::string& key_file) {
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use);
  SSL_CTX* ctx = tls.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    throw std::runtime_error("tls.cert " + cert_file + ": cannot load the certificate chain: " + openssl_reason());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("tls.key " + key_file + ": cannot load the private key: " + openssl_reason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw std::runtime_error("tls.key " + key_file + ": does not match the certificate in " + cert_file + ": " +
                             openssl_reason());
  }
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
}

}  // namespace tollgate::http
