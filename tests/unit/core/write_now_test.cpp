// write_now on a real loopback TCP connection: all of a small write goes out at once, a write
// larger than the socket buffer goes out in part and leaves the rest to the caller.
#include "tollgate/core/write_now.hpp"

#include <gtest/gtest.h>

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>

namespace tollgate {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Pair {
  asio::io_context io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  boost::beast::tcp_stream client{io};
  tcp::socket server{io};
  Pair() {
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
  }
};

TEST(WriteNow, ASmallWriteGoesOutWhole) {
  Pair p;
  const std::string text = "data: {\"x\":1}\n\n";
  const std::array<asio::const_buffer, 2> bytes{asio::buffer(text), asio::buffer(text)};
  EXPECT_EQ(write_now(p.client, bytes), 2 * text.size());
  std::string got(2 * text.size(), '\0');
  asio::read(p.server, asio::buffer(got));
  EXPECT_EQ(got, text + text);
}

TEST(WriteNow, AFullSocketBufferTakesPartOrNothingAndNeverBlocks) {
  Pair p;
  p.client.socket().set_option(asio::socket_base::send_buffer_size(4096));
  const std::string big(8 << 20, 'x');  // far more than the socket and the peer's buffers hold
  const std::size_t first = write_now(p.client, asio::buffer(big));
  EXPECT_LT(first, big.size());
  // Nobody reads: once the buffers are full an attempt writes nothing, at once (the kernel may
  // still grow them for a few attempts).
  bool full = false;
  for (int i = 0; i < 1000 && !full; ++i) full = write_now(p.client, asio::buffer(big)) == 0;
  EXPECT_TRUE(full);
}

TEST(WriteNow, AnErrorWritesNothing) {
  Pair p;
  p.server.close();
  p.client.socket().shutdown(tcp::socket::shutdown_send);
  EXPECT_EQ(write_now(p.client, asio::buffer(std::string("late"))), 0u);  // EPIPE, no SIGPIPE
}

}  // namespace
}  // namespace tollgate
