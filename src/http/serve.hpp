#pragma once
// HTTP stage (private): the two protocol loops, templated on the transport and instantiated
// for the plain (beast::tcp_stream) and TLS (beast::ssl_stream) API listener in their .cpp files.
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "tollgate/http/handler.hpp"
#include "tollgate/http/session.hpp"

namespace tollgate::http {

using PlainStream = boost::beast::tcp_stream;
using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

// HTTP/1.1 requests on `stream` until close; `buffer` holds bytes already read from it.
// `stream` belongs to the caller's frame, which awaits this.
template <class Stream>
boost::asio::awaitable<void> serve_http1(Stream& stream, boost::beast::flat_buffer buffer, SessionOptions options,
                                         Handler& handler, SessionTracker& tracker);

// One HTTP/2 connection on `stream`; `preread` holds bytes already read (the client preface,
// when the plain listener detected it). Returns once every stream's handler has finished.
template <class Stream>
boost::asio::awaitable<void> serve_h2(Stream& stream, std::string preread, SessionOptions options, Handler& handler,
                                      SessionTracker& tracker);

extern template boost::asio::awaitable<void> serve_http1<PlainStream>(PlainStream&, boost::beast::flat_buffer,
                                                                      SessionOptions, Handler&, SessionTracker&);
extern template boost::asio::awaitable<void> serve_http1<TlsStream>(TlsStream&, boost::beast::flat_buffer,
                                                                    SessionOptions, Handler&, SessionTracker&);
extern template boost::asio::awaitable<void> serve_h2<PlainStream>(PlainStream&, std::string, SessionOptions,
                                                                   Handler&, SessionTracker&);
extern template boost::asio::awaitable<void> serve_h2<TlsStream>(TlsStream&, std::string, SessionOptions, Handler&,
                                                                 SessionTracker&);

}  // namespace tollgate::http
