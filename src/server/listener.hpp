#pragma once
// Server stage: binding acceptors. Every worker binds its own acceptor to the same address
// with SO_REUSEPORT so the kernel spreads the accepting across workers without a shared lock
// (which worker then serves a connection is server.cpp's least_loaded).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "tollgate/config/config.hpp"

namespace tollgate::server {

// The endpoint for `address` ("localhost" means 127.0.0.1). Throws on a bad address.
boost::asio::ip::tcp::endpoint resolve_listen(const config::HostPort& address);

// Opens, binds and listens. Throws std::system_error on failure.
boost::asio::ip::tcp::acceptor bind_acceptor(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& at,
                                             bool reuse_port);

}  // namespace tollgate::server
