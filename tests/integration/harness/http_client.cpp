#include "http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <stdexcept>

namespace tollgate::testing {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

HttpConnection::HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout) : socket_(io_) {
  socket_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

HttpResponse HttpConnection::request(const std::string& method, const std::string& target, const std::string& body,
                                     const std::vector<std::pair<std::string, std::string>>& headers) {
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    req.set(name, value);
    if (bhttp::string_to_field(name) == bhttp::field::content_type) has_content_type = true;
  }
  if (!body.empty() && !has_content_type) req.set(bhttp::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  bhttp::write(socket_, req);
  return read_response();
}

void HttpConnection::write_raw(const std::string& bytes) { asio::write(socket_, asio::buffer(bytes)); }

HttpResponse HttpConnection::read_response() {
  for (;;) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    boost::system::error_code ec;
    bhttp::read(socket_, buffer_, parser, ec);
    if (ec) throw std::runtime_error("reading the response failed: " + ec.message());
    if (parser.get().result_int() / 100 == 1) continue;  // interim (100 Continue): the real one follows
    return to_response(parser.get());
  }
}

HttpResponse HttpConnection::to_response(const bhttp::response<bhttp::string_body>& res) {
  HttpResponse out;
  out.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers[name] = std::string(field.value());
  }
  out.body = res.body();
  return out;
}

bool HttpConnection::closed_by_peer(std::chrono::milliseconds within) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(within.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((within.count() % 1000) * 1000);
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char byte;
  for (;;) {
    const auto n = ::recv(socket_.native_handle(), &byte, 1, 0);
    if (n == 0) return true;                                    // orderly close
    if (n < 0) return errno == ECONNRESET;                      // reset counts; timeout does not
  }
}

StreamingResponse::StreamingResponse(std::uint16_t port, const std::string& target, const std::string& body,
                                     const std::vector<std::pair<std::string, std::string>>& headers,
                                     std::chrono::milliseconds timeout)
    : socket_(io_) {
  socket_.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::content_type, "application/json");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(socket_, req);
  parser_.body_limit(boost::none);
  on_chunk_header_ = [this](std::uint64_t size, boost::beast::string_view, boost::system::error_code&) {
    if (size > 0) ++data_chunks_;
  };
  parser_.on_chunk_header(on_chunk_header_);
  bhttp::read_header(socket_, buffer_, parser_);
}

unsigned StreamingResponse::status() const { return parser_.get().result_int(); }

std::string StreamingResponse::header(const std::string& name) const {
  const auto it = parser_.get().find(name);
  return it == parser_.get().end() ? std::string{} : std::string(it->value());
}

bool StreamingResponse::done() const { return parser_.is_done(); }

void StreamingResponse::set_receive_buffer(int bytes) {
  setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

std::string StreamingResponse::read_some(std::size_t max) {
  std::string chunk(max, '\0');
  while (!parser_.is_done()) {
    parser_.get().body().data = chunk.data();
    parser_.get().body().size = chunk.size();
    boost::system::error_code ec;
    bhttp::read_some(socket_, buffer_, parser_, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) throw std::runtime_error("reading the stream failed: " + ec.message());
    const std::size_t got = chunk.size() - parser_.get().body().size;
    if (got > 0) {
      chunk.resize(got);
      body_ += chunk;
      return chunk;
    }
  }
  return {};
}

std::string StreamingResponse::read_until(const std::string& needle) {
  while (body_.find(needle) == std::string::npos && !read_some().empty()) {
  }
  return body_;
}

std::string StreamingResponse::read_rest() {
  while (!read_some().empty()) {
  }
  return body_;
}

void StreamingResponse::close() {
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpConnection connection(port);
  return connection.request(method, target, body, headers);
}

double metric(std::uint16_t admin_port, const std::string& series) {
  const auto page = http_request(admin_port, "GET", "/metrics").body;
  const auto at = page.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(page.substr(at + series.size() + 2));
}

HttpResponse https_get(std::uint16_t port, const std::string& target, const std::string& ca_file) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  asio::ssl::stream<asio::ip::tcp::socket> stream(io, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification("localhost"));
  SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  stream.next_layer().connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.handshake(asio::ssl::stream_base::client);
  bhttp::request<bhttp::string_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "localhost");
  req.keep_alive(false);
  bhttp::write(stream, req);
  boost::beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  HttpResponse out;
  out.status = res.result_int();
  out.body = res.body();
  return out;
}

}  // namespace tollgate::testing
