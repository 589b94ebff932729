#pragma once
// Test harness: a blocking HTTP/1.1 client over a real loopback socket, with a receive
// timeout so no test can hang on a silent server.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tollgate::testing {

struct HttpResponse {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string{} : it->second;
  }
};

class HttpConnection {
 public:
  explicit HttpConnection(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Sends one request on this connection (keep-alive) and reads the response.
  // Throws std::runtime_error on a socket error or timeout.
  HttpResponse request(const std::string& method, const std::string& target, const std::string& body = {},
                       const std::vector<std::pair<std::string, std::string>>& headers = {});
  void write_raw(const std::string& bytes);
  HttpResponse read_response();
  // True if the server closes the connection (EOF or reset) within `within`.
  bool closed_by_peer(std::chrono::milliseconds within);

 private:
  static HttpResponse to_response(
      const boost::beast::http::response<boost::beast::http::string_body>& response);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
};

// A streaming response read piece by piece as it arrives (chunked encoding decoded).
class StreamingResponse {
 public:
  // Sends a POST and reads the response head.
  StreamingResponse(std::uint16_t port, const std::string& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));
  unsigned status() const;
  std::string header(const std::string& name) const;
  // The next body bytes (blocking); "" at the end of the body. Throws on error or timeout.
  std::string read_some(std::size_t max = 65536);
  // Reads until `needle` has been seen in the body so far (or the end); returns the body so far.
  std::string read_until(const std::string& needle);
  // Everything to the end of the body.
  std::string read_rest();
  const std::string& body_so_far() const { return body_; }
  // How many HTTP chunks with data the body came in so far (chunked responses): how many
  // writes the server made, when it writes each piece as one chunk.
  std::size_t data_chunks() const { return data_chunks_; }
  bool done() const;
  void set_receive_buffer(int bytes);
  void close();

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::response_parser<boost::beast::http::buffer_body> parser_;
  std::string body_;
  std::size_t data_chunks_ = 0;
  // Beast keeps a reference to it: a member, so it lives as long as the parser.
  std::function<void(std::uint64_t, boost::beast::string_view, boost::system::error_code&)> on_chunk_header_;
};

// One request on a fresh connection.
HttpResponse http_request(std::uint16_t port, const std::string& method, const std::string& target,
                          const std::string& body = {},
                          const std::vector<std::pair<std::string, std::string>>& headers = {});

// The value of one sample of a gateway's /metrics on its admin port, e.g.
// `tollgate_upstream_connects_total` or `name{label="value"}`; -1 when absent.
double metric(std::uint16_t admin_port, const std::string& series);

// One GET over TLS to localhost:`port`, trusting only `ca_file` (for test servers' own stats).
HttpResponse https_get(std::uint16_t port, const std::string& target, const std::string& ca_file);

}  // namespace tollgate::testing
