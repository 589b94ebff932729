#include "http_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
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

HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers) {
  HttpConnection connection(port);
  return connection.request(method, target, body, headers);
}

}  // namespace tollgate::testing
