#pragma once
// Forward stage: sends a request to a provider over HTTP/1.1 (TLS for https base URLs) and
// reads its reply. One Client per worker: it owns that worker's keep-alive connection pools,
// is used only on the worker's thread, and is never shared.
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"

namespace tollgate::upstream {

struct Reply {
  unsigned status = 0;
  std::string content_type;
  std::string body;
};

struct ClientOptions {
  std::size_t max_idle_per_origin = 64;
  // Pooled connections idle longer than this are closed instead of reused: providers close
  // idle keep-alive connections on their side and a POST must not land on a dead one.
  std::chrono::seconds max_idle_age{30};
  std::size_t max_reply_bytes = 64 * 1024 * 1024;
};

class Connection;

class Client {
 public:
  Client(boost::asio::any_io_executor executor, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POSTs `body` (JSON) to provider.base_url.path + `path` and reads the whole reply.
  // Errors: upstream_error (connect/TLS/reset/protocol failure, missing provider key),
  // upstream_timeout (nothing within first_byte_timeout). A provider's own error status is
  // a successful Reply. Messages name the provider, never its key.
  boost::asio::awaitable<Result<Reply>> post(const config::Provider& provider, std::string_view path,
                                             std::string body, std::string request_id);

  // Connections opened since start (tests and metrics check keep-alive reuse).
  std::size_t connections_opened() const { return connections_opened_; }

 private:
  boost::asio::awaitable<Result<std::unique_ptr<Connection>>> acquire(const config::Provider& provider);
  void release(const config::Url& origin, std::unique_ptr<Connection> connection);

  boost::asio::any_io_executor executor_;
  ClientOptions options_;
  boost::asio::ssl::context tls_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  std::size_t connections_opened_ = 0;
};

}  // namespace tollgate::upstream
