#include "listener.hpp"

#include <sys/socket.h>

#include <boost/asio/detail/socket_option.hpp>

namespace tollgate::server {

namespace asio = boost::asio;
using asio::ip::tcp;

tcp::endpoint resolve_listen(const config::HostPort& address) {
  const std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
  return tcp::endpoint(asio::ip::make_address(host), address.port);
}

tcp::acceptor bind_acceptor(asio::io_context& io, const tcp::endpoint& at, bool reuse_port) {
  using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  tcp::acceptor acceptor(io);
  acceptor.open(at.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  if (reuse_port) acceptor.set_option(ReusePort(true));
  acceptor.bind(at);
  acceptor.listen(asio::socket_base::max_listen_connections);
  return acceptor;
}

}  // namespace tollgate::server
