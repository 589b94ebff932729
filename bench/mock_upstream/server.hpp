#pragma once
// The mock upstream's HTTP/1.1 server, over plain TCP or TLS: one worker = one io_context = one
// thread, each worker with its own SO_REUSEPORT acceptor on the same port.
#include <memory>
#include <string>

#include "options.hpp"

namespace mock_upstream {

class Server {
 public:
  // Loads the TLS certificate and key when options name them; throws std::runtime_error naming
  // the file when they cannot be used (start-up only).
  explicit Server(Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on every worker's acceptor (the first picks the port when it is 0, the
  // rest reuse it). Returns "HOST:PORT". Throws boost::system::system_error (start-up only).
  std::string listen();

  // Serves on the calling thread plus threads-1 more until SIGINT or SIGTERM; call after
  // listen().
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mock_upstream
