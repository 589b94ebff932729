// HTTP/1.1 on either transport (see serve.hpp).
#include "serve.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <optional>
#include <type_traits>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http1_wire.hpp"
#include "tollgate/api/error_response.hpp"
#include "tollgate/core/error.hpp"
#include "tollgate/core/log.hpp"
#include "tollgate/core/request_id.hpp"
#include "tollgate/core/write_now.hpp"
#include "tollgate/metrics/shard.hpp"

namespace tollgate::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);

// Writes what write_now left of `bytes` (the first `done` bytes went out already), within
// `timeout`: the socket buffer was full, so the client is reading slowly or not at all.
template <class Stream, class Buffers>
asio::awaitable<error_code> write_rest(Stream& stream, const Buffers& bytes, std::size_t done,
                                      std::chrono::milliseconds timeout) {
  beast::buffers_suffix<Buffers> rest(bytes);
  rest.consume(done);
  beast::get_lowest_layer(stream).expires_after(timeout);
  auto [ec, n] = co_await asio::async_write(stream, rest, kAsTuple);
  co_return ec;
}

// The HTTP/1.1 side of ResponseWriter: one whole response, or a chunked stream, on the
// session's connection. `buffer` is the session's read buffer, where bytes a client pipelines
// during a stream are kept for the next request.
template <class Stream>
class Http1Writer final : public ResponseWriter {
 public:
  Http1Writer(Stream& stream, beast::flat_buffer& buffer, unsigned version, bool keep_alive,
              const SessionOptions& options)
      : stream_(stream), buffer_(buffer), version_(version), keep_alive_(keep_alive), options_(options) {}

  asio::awaitable<error_code> send(Response response) override {
    sent_ = true;
    response.version(version_);
    keep_alive_ = keep_alive_ && response.keep_alive();
    response.keep_alive(keep_alive_);
    response.prepare_payload();
    const std::string head = wire_head(response);
    const std::array<asio::const_buffer, 2> bytes{asio::buffer(head), asio::buffer(response.body())};
    const std::size_t done = write_now(stream_, bytes);
    if (done == asio::buffer_size(bytes)) co_return error_code{};
    co_return co_await write_rest(stream_, bytes, done, options_.io_timeout);
  }

  asio::awaitable<error_code> start_stream(Response head) override {
    sent_ = true;
    if (version_ < 11) keep_alive_ = false;  // HTTP/1.0: no chunked encoding; the close ends the body
    head.version(version_);
    head.keep_alive(keep_alive_);
    if (version_ >= 11) head.chunked(true);
    chunked_ = version_ >= 11;
    const std::string text = wire_head(head.base());
    const asio::const_buffer bytes = asio::buffer(text);
    const std::size_t done = write_now(stream_, bytes);
    if (done == bytes.size()) co_return error_code{};
    co_return co_await write_rest(stream_, bytes, done, options_.io_timeout);
  }

  asio::awaitable<error_code> write_chunk(std::string_view bytes) override {
    if (bytes.empty()) co_return error_code{};
    if (chunked_) {
      const ChunkFrame frame(bytes.size());
      const std::array<asio::const_buffer, 3> chunk{asio::buffer(frame.prefix()), asio::buffer(bytes),
                                                    asio::buffer(ChunkFrame::suffix())};
      const std::size_t done = write_now(stream_, chunk);
      if (done == asio::buffer_size(chunk)) co_return error_code{};
      co_return co_await write_rest(stream_, chunk, done, options_.io_timeout);
    }
    const asio::const_buffer raw = asio::buffer(bytes);
    const std::size_t done = write_now(stream_, raw);
    if (done == raw.size()) co_return error_code{};
    co_return co_await write_rest(stream_, raw, done, options_.io_timeout);
  }

  asio::awaitable<error_code> finish_stream() override {
    if (!chunked_) co_return error_code{};
    const asio::const_buffer bytes = asio::buffer(ChunkFrame::last());
    const std::size_t done = write_now(stream_, bytes);
    if (done == bytes.size()) co_return error_code{};
    co_return co_await write_rest(stream_, bytes, done, options_.io_timeout);
  }

  asio::awaitable<void> wait_disconnect() override {
    auto& socket = beast::get_lowest_layer(stream_).socket();
    for (;;) {
      auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read, kAsTuple);
      if (ec == asio::error::operation_aborted) co_return;  // cancelled: the stream ended first
      if (ec) co_return;
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        if (buffer_.size() >= options_.max_header_bytes) co_return;  // pipelining flood: give up on it
        error_code read_ec;
        const auto n = socket.read_some(buffer_.prepare(4096), read_ec);  // readable: does not block
        if (read_ec || n == 0) co_return;  // EOF or reset: the client is gone
        buffer_.commit(n);                 // a pipelined request: keep it for after this response
      } else {
        // TLS: bytes cannot be read past the TLS layer while a response is being written. EOF
        // or a reset shows in a peek; TLS records (a close_notify, a pipelined request) stay
        // queued, and a client that left is then noticed by the next failed write.
        char byte = 0;
        const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0) co_return;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) co_return;
        if (n > 0) {
          asio::steady_timer park(socket.get_executor());
          park.expires_at(asio::steady_timer::time_point::max());
          co_await park.async_wait(kAsTuple);  // only cancellation ends this
          co_return;
        }
      }
    }
  }

  bool sent() const { return sent_; }
  bool keep_alive() const { return keep_alive_; }

 private:
  Stream& stream_;
  beast::flat_buffer& buffer_;
  unsigned version_;
  bool keep_alive_;
  const SessionOptions& options_;
  bool sent_ = false;
  bool chunked_ = false;
};

// Answers a request the session refuses before the handler sees it, then closes.
// Counted in tollgate_rejected_total with reason invalid (malformed) or body (too large).
template <class Stream>
asio::awaitable<void> reject(Stream& stream, Failure refusal, std::chrono::milliseconds io_timeout,
                             SessionTracker& tracker, std::chrono::steady_clock::time_point started) {
  const auto err = api::to_error_response(refusal);
  if (tracker.metrics != nullptr) {
    metrics::RequestSample sample;
    sample.status = err.status;
    sample.rejected = refusal.code == Error::invalid_request ? "invalid" : "body";
    sample.duration_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    sample.overhead_s = sample.duration_s;
    tracker.metrics->record(sample);
  }
  Response response{static_cast<bhttp::status>(err.status), 11};
  response.set(bhttp::field::content_type, "application/json");
  response.set("x-request-id", next_request_id());
  response.body() = err.body;
  beast::get_lowest_layer(stream).expires_after(io_timeout);
  response.keep_alive(false);
  response.prepare_payload();
  const std::string head = wire_head(response);
  const std::array<asio::const_buffer, 2> bytes{asio::buffer(head), asio::buffer(response.body())};
  co_await asio::async_write(stream, bytes, kAsTuple);
}

std::size_t field_count(const Request& request) {
  std::size_t n = 0;
  for (auto it = request.begin(); it != request.end(); ++it) ++n;
  return n;
}

// What to answer when reading a request failed; nullopt when the client simply went away or
// idled out (nothing to answer).
std::optional<Failure> refusal_for(const error_code& ec) {
  if (ec == bhttp::error::header_limit) return fail(Error::headers_too_large, "Request headers are too large.");
  if (ec == bhttp::error::body_limit) return fail(Error::request_too_large, "Request body is too large.");
  if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == beast::error::timeout || ec == asio::error::operation_aborted) {
    return std::nullopt;
  }
  return fail(Error::invalid_request, "Malformed HTTP request.");
}

// Feeds `parser` what `buffer` already holds, without a read: the head and, the parser being
// eager, as much of the body as is there. `ec` is set only by a real parse error (need_more is
// not one). Beast's composed reads post their completion even when there was nothing to read,
// a suspension and a trip through the event loop per request for a message already buffered.
template <class Parser>
void parse_buffered(Parser& parser, beast::flat_buffer& buffer, error_code& ec) {
  while (buffer.size() > 0 && !parser.is_done()) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      return;
    }
    if (ec || used == 0) return;
  }
}

// Waits for the first byte of the next request; false when the client went away or idled out.
template <class Stream>
asio::awaitable<bool> await_first_byte(Stream& stream, beast::flat_buffer& buffer,
                                       std::chrono::milliseconds timeout) {
  if (buffer.size() > 0) co_return true;
  beast::get_lowest_layer(stream).expires_after(timeout);
  auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kAsTuple);
  buffer.commit(n);
  co_return !ec && n > 0;
}

// Ends the connection after a response that did not keep it alive: FIN for plain TCP, a
// close_notify (bounded wait) for TLS.
asio::awaitable<void> close_after_response(beast::tcp_stream& stream, std::chrono::milliseconds) {
  error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  co_return;
}
asio::awaitable<void> close_after_response(beast::ssl_stream<beast::tcp_stream>& stream,
                                           std::chrono::milliseconds timeout) {
  beast::get_lowest_layer(stream).expires_after(std::min(timeout, std::chrono::milliseconds(2000)));
  co_await stream.async_shutdown(kAsTuple);  // the peer's close_notify may never come: bounded
  error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
}

}  // namespace

template <class Stream>
asio::awaitable<void> serve_http1(Stream& stream, beast::flat_buffer buffer, SessionOptions options,
                                  Handler& handler, SessionTracker& tracker) {
  bool first_request = true;

  while (!tracker.draining) {
    if (!co_await await_first_byte(stream, buffer, first_request ? options.header_timeout : options.idle_timeout)) {
      co_return;
    }
    first_request = false;
    const auto started = std::chrono::steady_clock::now();

    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    parser.eager(true);

    // Usually the whole request is in the first read already; else the rest is read with the
    // head's deadline, then the body's.
    error_code head_ec;
    parse_buffered(parser, buffer, head_ec);
    if (!head_ec && !parser.is_header_done()) {
      beast::get_lowest_layer(stream).expires_after(options.header_timeout);
      auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kAsTuple);
      head_ec = ec;
    }
    if (head_ec) {
      if (auto refusal = refusal_for(head_ec)) co_await reject(stream, *refusal, options.io_timeout, tracker, started);
      co_return;
    }
    if (field_count(parser.get()) > options.max_header_fields) {
      Failure refusal = fail(Error::headers_too_large, "Too many request header fields.");
      co_await reject(stream, std::move(refusal), options.io_timeout, tracker, started);
      co_return;
    }
    // curl and others wait for this before sending a body larger than 1 KiB.
    if (beast::iequals(parser.get()[bhttp::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      beast::get_lowest_layer(stream).expires_after(options.io_timeout);
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(kContinue), kAsTuple);
      if (ec) co_return;
    }

    error_code body_ec;
    parse_buffered(parser, buffer, body_ec);
    if (!body_ec && !parser.is_done()) {
      beast::get_lowest_layer(stream).expires_after(options.io_timeout);
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, kAsTuple);
      body_ec = ec;
    }
    if (body_ec) {
      if (auto refusal = refusal_for(body_ec)) co_await reject(stream, *refusal, options.io_timeout, tracker, started);
      co_return;
    }

    Request request = parser.release();
    Http1Writer<Stream> writer(stream, buffer, request.version(), request.keep_alive() && !tracker.draining, options);
    {
      ++tracker.active_requests;
      struct Done {
        SessionTracker& t;
        ~Done() { --t.active_requests; }
      } done{tracker};
      co_await handler.handle(std::move(request), writer);
    }
    if (!writer.sent()) {
      log::error("handler returned without a response; closing the connection");
      co_return;
    }
    if (!writer.keep_alive()) {
      co_await close_after_response(stream, options.io_timeout);
      co_return;
    }
  }
}

template asio::awaitable<void> serve_http1<PlainStream>(PlainStream&, beast::flat_buffer, SessionOptions, Handler&,
                                                        SessionTracker&);
template asio::awaitable<void> serve_http1<TlsStream>(TlsStream&, beast::flat_buffer, SessionOptions, Handler&,
                                                      SessionTracker&);

}  // namespace tollgate::http
