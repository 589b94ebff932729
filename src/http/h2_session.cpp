// HTTP/2 on either transport (see serve.hpp): nghttp2's server session driven by the worker's
// event loop. Three coroutines share one connection: the reader feeds bytes to nghttp2, the
// writer drains nghttp2's output to the socket, the watchdog enforces deadlines and draining.
// Each complete request stream runs the handler as its own coroutine, answering through an
// H2Writer; a stream's DATA flows only as fast as its flow-control window and the socket allow,
// and a writer waiting on one stream never holds up the others.
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/stream_traits.hpp>

#include "h2_frame_guard.hpp"
#include "serve.hpp"
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
using Clock = std::chrono::steady_clock;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// How much nghttp2 output one socket write carries at most.
constexpr std::size_t kWriteBatch = 64 * 1024;
// Request bodies one connection may hold at once, in units of server.max_body_bytes.
constexpr std::size_t kMaxBufferedBodies = 4;
// How often the watchdog looks at deadlines and draining: a quarter of the shortest deadline,
// between 50 ms and 1 s.
std::chrono::milliseconds watchdog_tick(const SessionOptions& options) {
  const auto shortest = std::min({options.header_timeout, options.idle_timeout, options.io_timeout});
  return std::clamp(shortest / 4, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
}

// One request stream, owned by the connection from its HEADERS until both nghttp2 has closed
// it and its handler (if one started) has returned.
struct H2Stream {
  H2Stream(asio::any_io_executor executor, std::int32_t stream_id, Clock::time_point now)
      : id(stream_id), started(now), drained(executor), gone(executor) {}

  std::int32_t id;
  Clock::time_point started;
  Request request;
  std::size_t header_bytes = 0;
  std::size_t header_fields = 0;
  std::size_t body_bytes = 0;  // counted in the connection's buffered_body_bytes_
  bool head_complete = false;
  bool request_complete = false;
  bool refused = false;  // the session answered it (413/431) or reset it; no handler runs
  bool handler_started = false;
  bool handler_done = false;
  bool closed = false;     // nghttp2 closed the stream, or the connection ended
  bool responded = false;  // a response head was submitted
  // Response body bytes nghttp2 has not taken yet, from `out_at` on.
  std::string out;
  std::size_t out_at = 0;
  bool out_eof = false;    // no bytes will follow `out`
  bool eof_taken = false;  // nghttp2 took the last byte (END_STREAM is on its way)
  bool deferred = false;   // the data source said NGHTTP2_ERR_DEFERRED; resume on new bytes
  asio::steady_timer drained;  // cancelled when bytes were taken or the stream closed
  asio::steady_timer gone;     // cancelled when the stream closed
};

class H2Connection;

// The HTTP/2 side of ResponseWriter for one stream. Every call runs on the worker thread.
class H2Writer final : public ResponseWriter {
 public:
  H2Writer(H2Connection& connection, H2Stream& stream) : connection_(connection), stream_(stream) {}
  asio::awaitable<error_code> send(Response response) override;
  asio::awaitable<error_code> start_stream(Response head) override;
  asio::awaitable<error_code> write_chunk(std::string_view bytes) override;
  asio::awaitable<error_code> finish_stream() override;
  asio::awaitable<void> wait_disconnect() override;

 private:
  // Waits until `done` holds (success), the stream closes (client gone) or io_timeout passes
  // (the stream is reset).
  template <class Done>
  asio::awaitable<error_code> wait_taken(Done done);

  H2Connection& connection_;
  H2Stream& stream_;
};

class H2Connection {
 public:
  H2Connection(asio::any_io_executor executor, const SessionOptions& options, Handler& handler,
               SessionTracker& tracker)
      : executor_(executor),
        options_(options),
        handler_(handler),
        tracker_(tracker),
        guard_(options.http2, options.max_header_bytes * 2 + 16 * 1024),
        write_wake_(executor),
        watchdog_timer_(executor),
        all_done_(executor),
        last_activity_(Clock::now()) {
    nghttp2_session_callbacks* callbacks = nullptr;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
    nghttp2_option* option = nullptr;
    nghttp2_option_new(&option);
    // Bounds on queued SETTINGS/PING ACKs (a reader that never reads our output) and on the
    // entries of one SETTINGS frame; our FrameGuard bounds the rates before these trip.
    nghttp2_option_set_max_outbound_ack(option, 1000);
    nghttp2_option_set_max_settings(option, 32);
    nghttp2_session_server_new2(&session_, callbacks, this, option);
    nghttp2_option_del(option);
    nghttp2_session_callbacks_del(callbacks);

    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.http2.max_concurrent_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, static_cast<std::uint32_t>(options_.max_header_bytes)},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
    };
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
    write_wake_.expires_at(Clock::time_point::max());
    all_done_.expires_at(Clock::time_point::max());
  }

  ~H2Connection() { nghttp2_session_del(session_); }
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  const SessionOptions& options() const { return options_; }
  nghttp2_session* session() { return session_; }
  bool closed() const { return closed_; }

  void wake_writer() { write_wake_.cancel(); }

  // Feeds bytes the client sent. False when the connection must stop reading (a protection
  // tripped, or nghttp2 found a connection error; either way a GOAWAY is queued).
  bool feed(const std::uint8_t* data, std::size_t size) {
    const auto now = Clock::now();
    if (auto violation = guard_.scan({data, size}, now)) {
      trip(*violation);
      return false;
    }
    const auto rv = nghttp2_session_mem_recv(session_, data, size);
    if (rv < 0) {
      if (violation_) {
        trip(*violation_);
      } else if (rv == NGHTTP2_ERR_FLOODED) {
        trip(Http2Protection::flood);
      } else {
        // A protocol error: nghttp2 has queued its GOAWAY when it could; make sure of one.
        nghttp2_session_terminate_session(session_, NGHTTP2_PROTOCOL_ERROR);
      }
      wake_writer();
      return false;
    }
    start_ready_streams();
    wake_writer();
    return nghttp2_session_want_read(session_) != 0;
  }

  // Moves nghttp2's pending output into `out` (up to one batch). False on a fatal error.
  bool take_output(std::string& out) {
    out.clear();
    while (out.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) return false;
      if (n == 0) break;
      out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    return true;
  }

  // The connection has nothing more to do: nghttp2 wants neither to read nor write, or we
  // decided to stop (protection, idle, drained) and everything queued has been taken.
  bool finished() const {
    const bool want_write = nghttp2_session_want_write(session_) != 0;
    if (want_write) return false;
    return stopping_ || reading_done_ || nghttp2_session_want_read(session_) == 0;
  }

  void set_reading_done() {
    reading_done_ = true;
    wake_writer();
  }

  // Ends every stream's wait: the socket is closed or about to be.
  void mark_closed() {
    if (closed_) return;
    closed_ = true;
    for (auto& [id, stream] : streams_) {
      stream->closed = true;
      stream->drained.cancel();
      stream->gone.cancel();
    }
    wake_writer();
    watchdog_timer_.cancel();
  }

  // Waits until the handlers and the reader/watchdog coroutines have all finished.
  asio::awaitable<void> wait_all_done() {
    while (running_handlers_ > 0 || running_loops_ > 0) {
      all_done_.expires_at(Clock::time_point::max());
      co_await all_done_.async_wait(kAsTuple);
    }
  }
  void loop_started() { ++running_loops_; }
  void loop_done() {
    --running_loops_;
    all_done_.cancel();
  }

  // Deadlines and draining; returns when the connection must close at once (a deadline).
  // Called by the watchdog every tick.
  bool check(Clock::time_point now) {
    if (tracker_.draining && !goaway_sent_) {
      goaway_sent_ = true;
      nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                            NGHTTP2_NO_ERROR, nullptr, 0);
      wake_writer();
    }
    if (write_started_ && now - *write_started_ > options_.io_timeout) return true;  // a stalled reader
    bool any_handler = false;
    for (auto& [id, stream] : streams_) {
      if (stream->closed || stream->refused) continue;
      if (stream->handler_started) {
        any_handler = true;
        continue;
      }
      const auto limit = stream->head_complete ? options_.io_timeout : options_.header_timeout;
      if (now - stream->started > limit) {
        stream->refused = true;  // slow head or body: reset this stream, keep the others
        nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_CANCEL);
        wake_writer();
      }
    }
    if (streams_.empty() && !any_handler) {
      const auto idle = served_any_ ? options_.idle_timeout : options_.header_timeout;
      const bool drained = goaway_sent_;
      if (drained || now - last_activity_ > idle) {
        if (!drained) {
          goaway_sent_ = true;
          nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
                                NGHTTP2_NO_ERROR, nullptr, 0);
        }
        stopping_ = true;
        wake_writer();
      }
    }
    return false;
  }

  void write_started(Clock::time_point at) { write_started_ = at; }
  void write_finished() { write_started_.reset(); }

  asio::steady_timer& write_wake() { return write_wake_; }
  asio::steady_timer& watchdog_timer() { return watchdog_timer_; }

  // Submits a response head (and `body` when `complete`) for `stream`.
  int submit(H2Stream& stream, Response& head, bool complete) {
    std::vector<std::string> storage;
    std::vector<nghttp2_nv> nv;
    storage.reserve(64);
    const std::string status = std::to_string(head.result_int());
    nv.push_back(make_nv(":status", status));
    for (const auto& field : head) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      if (is_connection_specific(name) || name == "content-length") continue;
      storage.push_back(std::move(name));
      const std::string_view value(field.value().data(), field.value().size());
      nv.push_back(make_nv(storage.back(), value));
    }
    std::string length;
    const bool empty_body = head.body().empty();
    if (complete) {
      length = std::to_string(head.body().size());
      nv.push_back(make_nv("content-length", length));
    }
    stream.responded = true;
    if (complete && empty_body) {
      stream.out_eof = true;
      stream.eof_taken = true;
      const int rv = nghttp2_submit_response(session_, stream.id, nv.data(), nv.size(), nullptr);
      wake_writer();
      return rv;
    }
    if (complete) {
      stream.out = std::move(head.body());
      stream.out_at = 0;
      stream.out_eof = true;
    }
    nghttp2_data_provider provider{};
    provider.source.ptr = &stream;
    provider.read_callback = read_body;
    const int rv = nghttp2_submit_response(session_, stream.id, nv.data(), nv.size(), &provider);
    wake_writer();
    return rv;
  }

  void resume(H2Stream& stream) {
    if (stream.deferred && !stream.closed) {
      stream.deferred = false;
      nghttp2_session_resume_data(session_, stream.id);
    }
    wake_writer();
  }

  void reset(H2Stream& stream, std::uint32_t error) {
    if (stream.closed) return;
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, error);
    wake_writer();
  }

 private:
  static nghttp2_nv make_nv(std::string_view name, std::string_view value) {
    nghttp2_nv nv{};
    nv.name = reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data()));
    nv.namelen = name.size();
    nv.value = reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data()));
    nv.valuelen = value.size();
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    return nv;
  }

  // RFC 9113 section 8.2.2: these must not appear in HTTP/2 (nghttp2 rejects them inbound).
  static bool is_connection_specific(std::string_view name) {
    return name == "connection" || name == "keep-alive" || name == "proxy-connection" ||
           name == "transfer-encoding" || name == "upgrade";
  }

  static H2Connection& self(void* user_data) { return *static_cast<H2Connection*>(user_data); }
  H2Stream* find(std::int32_t id) {
    auto* stream = nghttp2_session_get_stream_user_data(session_, id);
    return static_cast<H2Stream*>(stream);
  }

  void trip(Http2Protection reason) {
    ++tracker_.h2_closes[static_cast<std::size_t>(reason)];
    log::warn("closing an HTTP/2 connection: protection tripped", {{"reason", protection_name(reason)}});
    nghttp2_session_terminate_session(session_, NGHTTP2_ENHANCE_YOUR_CALM);
    stopping_ = true;
    wake_writer();
  }

  // Answers a request the session refuses before the handler sees it (431, 413), counted like
  // HTTP/1.1's refusals.
  void refuse(H2Stream& stream, const Failure& refusal) {
    stream.refused = true;
    const auto err = api::to_error_response(refusal);
    if (tracker_.metrics != nullptr) {
      metrics::RequestSample sample;
      sample.status = err.status;
      sample.rejected = refusal.code == Error::invalid_request ? "invalid" : "body";
      sample.duration_s = std::chrono::duration<double>(Clock::now() - stream.started).count();
      sample.overhead_s = sample.duration_s;
      tracker_.metrics->record(sample);
    }
    Response response{static_cast<bhttp::status>(err.status), 11};
    response.set(bhttp::field::content_type, "application/json");
    response.set("x-request-id", next_request_id());
    response.body() = err.body;
    submit(stream, response, true);
  }

  void erase(H2Stream& stream) {
    buffered_body_bytes_ -= stream.body_bytes;
    const auto id = stream.id;
    streams_.erase(id);
  }

  void start_ready_streams() {
    auto ready = std::move(ready_);
    ready_.clear();
    for (const auto id : ready) {
      const auto it = streams_.find(id);
      if (it == streams_.end()) continue;
      H2Stream& stream = *it->second;
      if (stream.closed || stream.refused) continue;  // reset before it started: no work for it
      start_handler(stream);
    }
  }

  void start_handler(H2Stream& stream) {
    stream.handler_started = true;
    served_any_ = true;
    ++running_handlers_;
    asio::co_spawn(executor_, run_handler(this, &stream), [this, &stream](std::exception_ptr error) {
      if (error) {
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          log::error("HTTP/2 stream handler failed", {{"error", e.what()}});
        }
      }
      handler_finished(stream);
    });
  }

  // One stream's request through the handler. `self` and `stream` outlive it: the connection
  // waits for every handler before it is destroyed, and keeps the stream until it returns.
  static asio::awaitable<void> run_handler(H2Connection* self, H2Stream* stream) {
    H2Writer writer(*self, *stream);
    ++self->tracker_.active_requests;
    struct Done {
      SessionTracker& t;
      ~Done() { --t.active_requests; }
    } done{self->tracker_};
    co_await self->handler_.handle(std::move(stream->request), writer);
  }

  void handler_finished(H2Stream& stream) {
    stream.handler_done = true;
    --running_handlers_;
    if (!stream.closed && !stream.responded) {
      log::error("handler returned without a response; resetting the stream");
      reset(stream, NGHTTP2_INTERNAL_ERROR);
    }
    if (stream.closed) erase(stream);
    last_activity_ = Clock::now();
    all_done_.cancel();
  }

  // nghttp2 callbacks: they run inside mem_recv/mem_send on the worker thread; none starts
  // a coroutine inline.
  static int on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    auto& c = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    // Streams whose handler still runs after a reset count too: at most twice the advertised
    // concurrency of work per connection.
    if (c.streams_.size() >= 2 * std::size_t{c.options_.http2.max_concurrent_streams} || c.stopping_) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    c.last_activity_ = Clock::now();
    auto stream = std::make_unique<H2Stream>(c.executor_, frame->hd.stream_id, c.last_activity_);
    stream->drained.expires_at(Clock::time_point::max());
    stream->gone.expires_at(Clock::time_point::max());
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream.get());
    c.streams_.emplace(frame->hd.stream_id, std::move(stream));
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user_data) {
    auto& c = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Stream* stream = c.find(frame->hd.stream_id);
    if (stream == nullptr || stream->refused) return 0;
    // RFC 9113 section 6.5.2 counts 32 bytes of overhead per field.
    stream->header_bytes += namelen + valuelen + 32;
    if (stream->header_bytes > 4 * c.options_.max_header_bytes) {
      c.violation_ = Http2Protection::header_list_too_large;  // an HPACK bomb: end the connection
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (stream->header_bytes > c.options_.max_header_bytes) return 0;  // answered 431 at the end
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;  // trailers: ignored
    if (!n.empty() && n.front() == ':') {
      if (n == ":method") {
        stream->request.method_string(v);
      } else if (n == ":path") {
        stream->request.target(v);
      } else if (n == ":authority") {
        stream->request.set(bhttp::field::host, v);
      }
      return 0;
    }
    ++stream->header_fields;
    if (n == "host" && stream->request.find(bhttp::field::host) != stream->request.end()) return 0;
    stream->request.insert(n, v);
    return 0;
  }

  static int on_data_chunk(nghttp2_session* session, std::uint8_t, std::int32_t stream_id, const std::uint8_t* data,
                           std::size_t len, void* user_data) {
    auto& c = self(user_data);
    H2Stream* stream = c.find(stream_id);
    if (stream == nullptr || stream->refused) return 0;
    auto& body = stream->request.body();
    if (body.size() + len > c.options_.max_body_bytes) {
      c.refuse(*stream, fail(Error::request_too_large, "Request body is too large."));
      return 0;
    }
    // Bodies held by one connection's streams (arriving or being handled) are bounded as a
    // whole, or 100 streams could hold 100 bodies: a stream past the bound is refused, and
    // the client may retry it (nothing was processed).
    if (c.buffered_body_bytes_ + len > kMaxBufferedBodies * c.options_.max_body_bytes) {
      stream->refused = true;
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_REFUSED_STREAM);
      return 0;
    }
    body.append(reinterpret_cast<const char*>(data), len);
    stream->body_bytes += len;
    c.buffered_body_bytes_ += len;
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    auto& c = self(user_data);
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    H2Stream* stream = c.find(frame->hd.stream_id);
    if (stream == nullptr || stream->refused) return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      stream->head_complete = true;
      stream->request.version(11);  // the gateway sees HTTP/1.1 semantics
      if (stream->header_bytes > c.options_.max_header_bytes) {
        c.refuse(*stream, fail(Error::headers_too_large, "Request headers are too large."));
        return 0;
      }
      if (stream->header_fields > c.options_.max_header_fields) {
        c.refuse(*stream, fail(Error::headers_too_large, "Too many request header fields."));
        return 0;
      }
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && !stream->request_complete) {
      stream->request_complete = true;
      stream->request.prepare_payload();  // content-length from the body actually received
      c.ready_.push_back(stream->id);
    }
    return 0;
  }

  static int on_frame_send(nghttp2_session* session, const nghttp2_frame* frame, void* user_data) {
    auto& c = self(user_data);
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    H2Stream* stream = c.find(frame->hd.stream_id);
    // A refused request whose client is still sending: our answer is complete, so ask it to
    // stop (RFC 9113 section 8.1) rather than read the rest.
    if (stream != nullptr && stream->refused && !stream->request_complete) {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream->id, NGHTTP2_NO_ERROR);
    }
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t, void* user_data) {
    auto& c = self(user_data);
    H2Stream* stream = c.find(stream_id);
    if (stream == nullptr) return 0;
    stream->closed = true;
    stream->drained.cancel();
    stream->gone.cancel();
    c.last_activity_ = Clock::now();
    if (!stream->handler_started || stream->handler_done) c.erase(*stream);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source* source, void*) {
    auto& stream = *static_cast<H2Stream*>(source->ptr);
    const std::size_t n = std::min(length, stream.out.size() - stream.out_at);
    if (n > 0) std::memcpy(buf, stream.out.data() + stream.out_at, n);
    stream.out_at += n;
    if (stream.out_at == stream.out.size()) {
      stream.out.clear();
      stream.out_at = 0;
      stream.drained.cancel();
      if (stream.out_eof) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        stream.eof_taken = true;
      } else if (n == 0) {
        stream.deferred = true;
        return NGHTTP2_ERR_DEFERRED;
      }
    }
    return static_cast<ssize_t>(n);
  }

  asio::any_io_executor executor_;
  SessionOptions options_;
  Handler& handler_;
  SessionTracker& tracker_;
  FrameGuard guard_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, std::unique_ptr<H2Stream>> streams_;
  std::vector<std::int32_t> ready_;  // requests completed during the current mem_recv
  std::optional<Http2Protection> violation_;
  asio::steady_timer write_wake_;
  asio::steady_timer watchdog_timer_;
  asio::steady_timer all_done_;
  std::size_t buffered_body_bytes_ = 0;
  std::size_t running_handlers_ = 0;
  std::size_t running_loops_ = 0;
  // When the connection last had a stream open or ending: control frames alone (PING,
  // SETTINGS) do not keep an idle connection alive.
  Clock::time_point last_activity_;
  std::optional<Clock::time_point> write_started_;
  bool served_any_ = false;
  bool stopping_ = false;
  bool reading_done_ = false;
  bool goaway_sent_ = false;
  bool closed_ = false;
};

template <class Done>
asio::awaitable<error_code> H2Writer::wait_taken(Done done) {
  const auto deadline = Clock::now() + connection_.options().io_timeout;
  for (;;) {
    if (done()) co_return error_code{};
    if (stream_.closed) co_return asio::error::connection_reset;
    if (Clock::now() >= deadline) {
      // The client's window stayed shut (or the socket stalled) too long: give up the stream.
      connection_.reset(stream_, NGHTTP2_CANCEL);
      co_return asio::error::timed_out;
    }
    stream_.drained.expires_at(deadline);
    co_await stream_.drained.async_wait(kAsTuple);
  }
}

asio::awaitable<error_code> H2Writer::send(Response response) {
  if (stream_.closed || stream_.responded) co_return asio::error::connection_reset;
  if (connection_.submit(stream_, response, true) != 0) co_return asio::error::connection_reset;
  H2Stream& stream = stream_;
  const auto done = [&stream] { return stream.eof_taken; };
  co_return co_await wait_taken(done);
}

asio::awaitable<error_code> H2Writer::start_stream(Response head) {
  if (stream_.closed || stream_.responded) co_return asio::error::connection_reset;
  head.body().clear();
  if (connection_.submit(stream_, head, false) != 0) co_return asio::error::connection_reset;
  co_return error_code{};
}

asio::awaitable<error_code> H2Writer::write_chunk(std::string_view bytes) {
  if (stream_.closed) co_return asio::error::connection_reset;
  if (bytes.empty()) co_return error_code{};
  stream_.out.append(bytes);
  connection_.resume(stream_);
  H2Stream& stream = stream_;
  const auto done = [&stream] { return stream.out.size() == stream.out_at; };
  co_return co_await wait_taken(done);
}

asio::awaitable<error_code> H2Writer::finish_stream() {
  if (stream_.closed) co_return asio::error::connection_reset;
  stream_.out_eof = true;
  connection_.resume(stream_);
  H2Stream& stream = stream_;
  const auto done = [&stream] { return stream.eof_taken; };
  co_return co_await wait_taken(done);
}

asio::awaitable<void> H2Writer::wait_disconnect() {
  if (stream_.closed) co_return;
  // `gone` is cancelled only when the stream closes; any other completion is the caller's
  // cancellation. Either way this is the end of the wait.
  stream_.gone.expires_at(Clock::time_point::max());
  co_await stream_.gone.async_wait(kAsTuple);
}

template <class Stream>
void close_transport(Stream& stream) {
  error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(stream).socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> read_loop(Stream& stream, H2Connection& connection) {
  std::vector<std::uint8_t> buffer(16 * 1024);
  for (;;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(buffer), kAsTuple);
    if (ec || connection.closed()) break;
    const bool more = connection.feed(buffer.data(), n);
    if (!more) break;
  }
  connection.set_reading_done();
}

template <class Stream>
asio::awaitable<void> write_loop(Stream& stream, H2Connection& connection) {
  std::string out;
  while (!connection.closed()) {
    if (!connection.take_output(out)) break;
    if (out.empty()) {
      if (connection.finished()) break;
      auto& wake = connection.write_wake();
      wake.expires_at(Clock::time_point::max());
      co_await wake.async_wait(kAsTuple);
      continue;
    }
    connection.write_started(Clock::now());
    // At once when the socket takes it all (see write_now), else the rest asynchronously.
    const std::size_t done = write_now(stream, asio::buffer(out));
    error_code ec;
    if (done != out.size()) {
      const asio::const_buffer rest(out.data() + done, out.size() - done);
      auto [write_ec, n] = co_await asio::async_write(stream, rest, kAsTuple);
      ec = write_ec;
    }
    connection.write_finished();
    if (ec) break;
  }
}

template <class Stream>
asio::awaitable<void> watchdog(Stream& stream, H2Connection& connection) {
  auto& timer = connection.watchdog_timer();
  const auto tick = watchdog_tick(connection.options());
  while (!connection.closed()) {
    timer.expires_after(tick);
    co_await timer.async_wait(kAsTuple);
    if (connection.closed()) break;
    const bool expired = connection.check(Clock::now());
    if (expired) {
      close_transport(stream);  // a write stalled past io_timeout: the reader and writer fail now
      connection.mark_closed();
      break;
    }
  }
}

auto loop_finished(H2Connection& connection, const char* what) {
  return [&connection, what](std::exception_ptr error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        log::error("HTTP/2 connection loop failed", {{"where", what}, {"error", e.what()}});
      }
    }
    connection.loop_done();
  };
}

}  // namespace

template <class Stream>
asio::awaitable<void> serve_h2(Stream& stream, std::string preread, SessionOptions options, Handler& handler,
                               SessionTracker& tracker) {
  const auto executor = co_await asio::this_coro::executor;
  H2Connection connection(executor, options, handler, tracker);
  bool reading = true;
  if (!preread.empty()) {
    reading = connection.feed(reinterpret_cast<const std::uint8_t*>(preread.data()), preread.size());
  }
  if (reading) {
    connection.loop_started();
    asio::co_spawn(executor, read_loop(stream, connection), loop_finished(connection, "read"));
  } else {
    connection.set_reading_done();
  }
  connection.loop_started();
  asio::co_spawn(executor, watchdog(stream, connection), loop_finished(connection, "watchdog"));
  co_await write_loop(stream, connection);
  close_transport(stream);
  connection.mark_closed();
  co_await connection.wait_all_done();
}

template asio::awaitable<void> serve_h2<PlainStream>(PlainStream&, std::string, SessionOptions, Handler&,
                                                     SessionTracker&);
template asio::awaitable<void> serve_h2<TlsStream>(TlsStream&, std::string, SessionOptions, Handler&,
                                                   SessionTracker&);

}  // namespace tollgate::http
