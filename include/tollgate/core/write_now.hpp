#pragma once
// Writes on a plain TCP stream without going through the event loop when the socket can take
// the bytes at once, which it almost always can (a response, a request to a provider, an SSE
// chunk). An async write through beast::tcp_stream costs a timer armed and cancelled, an
// operation allocated, its completion posted and the coroutine suspended and resumed; callgrind
// and perf showed those as the largest share of a streamed chunk's cost. The caller writes what
// is left, if anything, asynchronously with its timeout, so a slow reader still gets one.
#include <cstddef>
#include <type_traits>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

namespace tollgate {

// The bytes of `buffers` written by one non-blocking send: all of them, some, or none (the
// socket buffer is full, or an error the asynchronous write will then report). Streams other
// than a plain beast::tcp_stream (TLS) write nothing here.
template <class Stream, class Buffers>
std::size_t write_now(Stream& stream, const Buffers& buffers) {
  if constexpr (std::is_same_v<Stream, boost::beast::tcp_stream>) {
    auto& socket = stream.socket();
    boost::system::error_code ec;
    if (!socket.non_blocking()) socket.non_blocking(true, ec);
    if (ec) return 0;
    const std::size_t n = socket.write_some(buffers, ec);
    return ec ? 0 : n;
  } else {
    (void)stream;
    (void)buffers;
    return 0;
  }
}

}  // namespace tollgate
