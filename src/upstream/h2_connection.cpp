#include "h2_connection.hpp"

#include <algorithm>
#include <optional>
#include <array>
#include <cstring>
#include <string_view>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "tollgate/core/log.hpp"
#include "tollgate/core/write_now.hpp"

namespace tollgate::upstream {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// Before the provider's SETTINGS arrive nghttp2 allows 100 streams; a provider that sets no
// limit is still not given more than this many on one connection.
constexpr std::uint32_t kAssumedMaxStreams = 100;
constexpr std::uint32_t kStreamCap = 1000;
// Per-stream receive window: the most body bytes a provider may send ahead of the reader.
constexpr std::int32_t kStreamWindow = 64 * 1024;
// Connection window: large enough that a few stalled readers do not stall the others.
constexpr std::int32_t kConnectionWindow = 16 * 1024 * 1024;
// Bytes taken from nghttp2 per socket write.
constexpr std::size_t kWriteBatch = 64 * 1024;

}  // namespace

// nghttp2's callbacks; `user` is the H2Connection. They run inside nghttp2_session_mem_recv
// (on the connection's read coroutine), never concurrently.
struct H2Callbacks {
  static H2Connection& self(void* user) { return *static_cast<H2Connection*>(user); }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                       const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    H2Stream* s = self(user).stream_of(frame->hd.stream_id);
    if (s == nullptr || s->head_done) return 0;  // trailers are not used
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      unsigned status = 0;
      for (char c : v) status = status * 10 + static_cast<unsigned>(c - '0');  // nghttp2 validated it
      s->status = status;
    } else if (n == "content-type") {
      s->content_type = std::string(v);
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    H2Connection& c = self(user);
    switch (frame->hd.type) {
      case NGHTTP2_HEADERS:
      case NGHTTP2_DATA: {
        H2Stream* s = c.stream_of(frame->hd.stream_id);
        if (s == nullptr) break;
        if (frame->hd.type == NGHTTP2_HEADERS && !s->head_done) {
          if (s->status >= 200) {
            s->head_done = true;
          } else {  // 1xx: the final response follows
            s->status = 0;
            s->content_type.clear();
          }
        }
        if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0) s->ended = true;
        s->wake();
        break;
      }
      case NGHTTP2_GOAWAY:
        // Streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM (retried by
        // the client); the rest finish here; no new stream goes on this connection.
        c.goaway_ = true;
        if (c.connection_->counts) ++c.connection_->counts->h2_goaways;
        c.notify_pool();
        break;
      case NGHTTP2_SETTINGS:
        if ((frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) c.settings_received_ = true;
        c.notify_pool();  // MAX_CONCURRENT_STREAMS may have changed
        break;
      default:
        break;
    }
    return 0;
  }

  static int on_data_chunk_recv(nghttp2_session* session, std::uint8_t, std::int32_t stream_id,
                                const std::uint8_t* data, std::size_t len, void* user) {
    H2Stream* s = self(user).stream_of(stream_id);
    if (s == nullptr || s->cancelled) {
      nghttp2_session_consume(session, stream_id, len);  // nobody reads it: give the window back
      return 0;
    }
    s->pending.append(reinterpret_cast<const char*>(data), len);
    s->wake();
    return 0;
  }

  static int on_stream_close(nghttp2_session*, std::int32_t stream_id, std::uint32_t error_code, void* user) {
    H2Connection& c = self(user);
    const auto it = c.slots_.find(stream_id);
    if (it == c.slots_.end()) return 0;
    if (H2Stream* s = it->second.reader; s != nullptr) {
      s->closed = true;
      if (!s->ended && !s->failure) {
        if (error_code == NGHTTP2_REFUSED_STREAM && !s->head_done) s->refused = true;
        s->failure = error_code == NGHTTP2_NO_ERROR
                         ? std::string("ended the stream early")
                         : "reset the stream (" + std::string(nghttp2_http2_strerror(error_code)) + ")";
      }
      s->wake();
    }
    c.slots_.erase(it);
    c.notify_pool();
    return 0;
  }

  // The request body, from the slot nghttp2 asks for by stream id.
  static ssize_t read_body(nghttp2_session*, std::int32_t stream_id, std::uint8_t* buf, std::size_t length,
                           std::uint32_t* data_flags, nghttp2_data_source*, void* user) {
    H2Connection& c = self(user);
    const auto it = c.slots_.find(stream_id);
    if (it == c.slots_.end()) {
      *data_flags |= NGHTTP2_DATA_FLAG_EOF;
      return 0;
    }
    auto& slot = it->second;
    const std::size_t n = std::min(length, slot.body.size() - slot.offset);
    std::memcpy(buf, slot.body.data() + slot.offset, n);
    slot.offset += n;
    if (slot.offset == slot.body.size()) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

asio::awaitable<void> h2_read_loop(std::shared_ptr<H2Connection> self) {
  H2Connection& c = *self;
  std::array<char, 16 * 1024> buffer{};
  while (!c.dead_) {
    error_code ec;
    std::size_t n = 0;
    if (c.connection_->tls) {
      std::tie(ec, n) = co_await c.connection_->tls->async_read_some(asio::buffer(buffer), kAsTuple);
    } else {
      std::tie(ec, n) = co_await c.connection_->plain->async_read_some(asio::buffer(buffer), kAsTuple);
    }
    if (c.dead_) co_return;
    if (ec) {
      c.fail(ec == asio::error::eof ? std::string("closed the connection") : "failed: " + ec.message());
      co_return;
    }
    c.last_read_ = std::chrono::steady_clock::now();
    c.ping_sent_.reset();  // any byte shows the provider is there
    const auto rv = nghttp2_session_mem_recv(c.session_, reinterpret_cast<const std::uint8_t*>(buffer.data()), n);
    if (rv < 0) {
      c.fail("sent invalid HTTP/2 (" + std::string(nghttp2_strerror(static_cast<int>(rv))) + ")");
      co_return;
    }
    c.kick_writer();  // SETTINGS ACK, WINDOW_UPDATE, PING replies
  }
}

// Takes frames from nghttp2 and writes them; when there is nothing to write it waits for a
// kick. A connection with no stream for `idle_close_` says GOAWAY and closes. Keep-alive: after
// `ping_interval_` without a byte from the provider a PING goes out; without an answer within
// `ping_timeout_` the connection fails (a provider or path that died without a FIN or RST).
asio::awaitable<void> h2_write_loop(std::shared_ptr<H2Connection> self) {
  using namespace asio::experimental::awaitable_operators;
  H2Connection& c = *self;
  const auto executor = co_await asio::this_coro::executor;
  std::optional<std::chrono::steady_clock::time_point> idle_since;
  while (!c.dead_) {
    c.out_.clear();
    while (c.out_.size() < kWriteBatch) {
      const std::uint8_t* data = nullptr;
      const auto n = nghttp2_session_mem_send(c.session_, &data);
      if (n < 0) {
        c.fail("HTTP/2 session failed (" + std::string(nghttp2_strerror(static_cast<int>(n))) + ")");
        co_return;
      }
      if (n == 0) break;
      c.out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    }
    if (!c.out_.empty() && c.connection_->plain) {
      // At once when the socket takes it all (see write_now); the rest, if any, below.
      const std::size_t done = write_now(*c.connection_->plain, asio::buffer(c.out_));
      if (done == c.out_.size()) continue;
      c.out_.erase(0, done);
    }
    if (!c.out_.empty()) {
      asio::steady_timer deadline(executor, c.write_timeout_);
      std::variant<std::tuple<error_code, std::size_t>, std::tuple<error_code>> written;
      if (c.connection_->tls) {
        written = co_await (asio::async_write(*c.connection_->tls, asio::buffer(c.out_), kAsTuple) ||
                            deadline.async_wait(kAsTuple));
      } else {
        written = co_await (asio::async_write(*c.connection_->plain, asio::buffer(c.out_), kAsTuple) ||
                            deadline.async_wait(kAsTuple));
      }
      if (c.dead_) co_return;
      if (written.index() == 1) {
        c.fail("did not accept data in time");
        co_return;
      }
      if (const auto ec = std::get<0>(std::get<0>(written))) {
        c.fail("failed: " + ec.message());
        co_return;
      }
      continue;
    }
    if (nghttp2_session_want_read(c.session_) == 0 && nghttp2_session_want_write(c.session_) == 0) {
      c.fail("closed the HTTP/2 connection");  // GOAWAY exchanged and no stream left
      co_return;
    }
    const bool idle = c.slots_.empty() && c.reserved_ == 0;
    const auto now = std::chrono::steady_clock::now();
    // Idle since the first wait without a stream: the PINGs and their answers wake this loop
    // too, and must not push the close back.
    if (!idle) {
      idle_since.reset();
    } else if (!idle_since) {
      idle_since = now;
    }
    const auto idle_until = idle ? *idle_since + c.idle_close_ : asio::steady_timer::time_point::max();
    const auto ping_at = c.ping_sent_ ? *c.ping_sent_ + c.ping_timeout_ : c.last_read_ + c.ping_interval_;
    c.write_signal_.expires_at(std::min(idle_until, ping_at));
    co_await c.write_signal_.async_wait(kAsTuple);
    if (c.dead_) co_return;
    const auto woke = std::chrono::steady_clock::now();
    if (c.ping_sent_ && woke >= *c.ping_sent_ + c.ping_timeout_) {
      c.fail("did not answer a PING in time");
      co_return;
    }
    if (!c.ping_sent_ && woke >= c.last_read_ + c.ping_interval_) {
      nghttp2_submit_ping(c.session_, NGHTTP2_FLAG_NONE, nullptr);
      c.ping_sent_ = woke;
      continue;
    }
    if (idle && c.slots_.empty() && c.reserved_ == 0 && woke >= idle_until) {
      c.goaway_ = true;
      c.notify_pool();
      nghttp2_session_terminate_session(c.session_, NGHTTP2_NO_ERROR);
    }
  }
}

namespace {

// Completion of the read and write coroutines: errors are values inside them, so an exception
// here is a bug; log it.
void log_loop_failure(std::exception_ptr error) {
  if (!error) return;
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    log::error("upstream HTTP/2 connection coroutine failed", {{"error", e.what()}});
  }
}

}  // namespace

H2Connection::H2Connection(asio::any_io_executor executor, std::unique_ptr<Connection> connection,
                           const config::Provider& provider, asio::steady_timer* changed,
                           std::chrono::seconds idle_close)
    : executor_(executor),
      connection_(std::move(connection)),
      provider_name_(provider.name),
      changed_(changed),
      idle_close_(idle_close),
      write_timeout_(provider.first_byte_timeout),
      ping_interval_(provider.http2_ping_interval),
      ping_timeout_(provider.connect_timeout),
      last_read_(std::chrono::steady_clock::now()),
      write_signal_(executor) {
  if (connection_->counts) ++connection_->counts->h2_open;
}

H2Connection::~H2Connection() {
  uncount();
  if (session_ != nullptr) nghttp2_session_del(session_);
}

void H2Connection::uncount() {
  if (connection_->counts) --connection_->counts->h2_open;
  connection_->uncount();
}

Result<std::shared_ptr<H2Connection>> H2Connection::start(asio::any_io_executor executor,
                                                          std::unique_ptr<Connection> connection,
                                                          const config::Provider& provider,
                                                          asio::steady_timer* changed,
                                                          std::chrono::seconds idle_close) {
  // The connect deadline set while dialing must not end the session's reads and writes.
  connection->tcp().expires_never();
  std::shared_ptr<H2Connection> c(new H2Connection(executor, std::move(connection), provider, changed, idle_close));
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_option* option = nullptr;
  if (nghttp2_session_callbacks_new(&callbacks) != 0 || nghttp2_option_new(&option) != 0) {
    nghttp2_session_callbacks_del(callbacks);
    return tollgate::fail(Error::upstream_error, "Upstream provider '" + provider.name + "': out of memory for HTTP/2.");
  }
  nghttp2_session_callbacks_set_on_header_callback(callbacks, &H2Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, &H2Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, &H2Callbacks::on_data_chunk_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, &H2Callbacks::on_stream_close);
  // Backpressure: the window opens again only as the reader takes bytes (consume()).
  nghttp2_option_set_no_auto_window_update(option, 1);
  nghttp2_option_set_peer_max_concurrent_streams(option, kAssumedMaxStreams);
  const int rv = nghttp2_session_client_new2(&c->session_, callbacks, c.get(), option);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  if (rv != 0) {
    return tollgate::fail(Error::upstream_error, "Upstream provider '" + provider.name + "': cannot start HTTP/2.");
  }
  const std::array<nghttp2_settings_entry, 2> settings{{{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                                        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}}};
  nghttp2_submit_settings(c->session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(c->session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  asio::co_spawn(executor, h2_read_loop(c), log_loop_failure);
  asio::co_spawn(executor, h2_write_loop(c), log_loop_failure);
  return c;
}

std::size_t H2Connection::free_slots() const {
  if (!accepts_streams() || !settings_received_) return 0;
  const std::uint32_t remote =
      nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  const std::size_t limit = std::min(remote, kStreamCap);
  const std::size_t used = slots_.size() + reserved_;
  return used >= limit ? 0 : limit - used;
}

H2Stream* H2Connection::stream_of(std::int32_t id) {
  const auto it = slots_.find(id);
  return it == slots_.end() ? nullptr : it->second.reader;
}

void H2Connection::notify_pool() {
  if (changed_ != nullptr) changed_->cancel();
}

Result<void> H2Connection::submit(H2Stream& stream, std::vector<std::pair<std::string, std::string>> headers,
                                  std::string body) {
  if (reserved_ > 0) --reserved_;
  if (dead_ || goaway_) {
    stream.refused = true;
    return tollgate::fail(Error::upstream_error, "Upstream provider '" + provider_name_ + "' closed the connection.");
  }
  std::vector<nghttp2_nv> nva;
  nva.reserve(headers.size());
  for (auto& [name, value] : headers) {
    nva.push_back({reinterpret_cast<std::uint8_t*>(name.data()), reinterpret_cast<std::uint8_t*>(value.data()),
                   name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  nghttp2_data_provider provider{};
  provider.read_callback = &H2Callbacks::read_body;
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), &provider, nullptr);
  if (id < 0) {
    return tollgate::fail(Error::upstream_error, "Upstream provider '" + provider_name_ + "': cannot open an HTTP/2 stream (" +
                                           std::string(nghttp2_strerror(id)) + ").");
  }
  Slot& slot = slots_[id];
  slot.body = std::move(body);
  slot.reader = &stream;
  stream.id = id;
  stream.connection = shared_from_this();
  kick_writer();
  return {};
}

void H2Connection::cancel(H2Stream& stream) {
  stream.cancelled = true;
  const auto it = slots_.find(stream.id);
  if (!dead_ && it != slots_.end()) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream.id, NGHTTP2_CANCEL);
    kick_writer();
  }
  if (!dead_ && !stream.pending.empty()) {
    nghttp2_session_consume(session_, stream.id, stream.pending.size());
    kick_writer();
  }
  stream.pending.clear();
  stream.wake();
}

void H2Connection::detach(H2Stream& stream) {
  if (!stream.closed && !stream.cancelled) cancel(stream);
  if (!dead_ && !stream.pending.empty()) {
    nghttp2_session_consume(session_, stream.id, stream.pending.size());
    kick_writer();
  }
  if (const auto it = slots_.find(stream.id); it != slots_.end()) it->second.reader = nullptr;
}

void H2Connection::consume(H2Stream& stream, std::size_t n) {
  if (dead_) return;
  nghttp2_session_consume(session_, stream.id, n);
  kick_writer();
}

void H2Connection::abort(std::string_view why) { fail(std::string(why)); }

void H2Connection::fail(std::string why) {
  if (dead_) return;
  dead_ = true;
  error_code ignored;
  connection_->tcp().socket().close(ignored);
  uncount();  // the pool may hold on to it a while longer, closed
  for (auto& [id, slot] : slots_) {
    H2Stream* s = slot.reader;
    if (s == nullptr || s->closed) continue;
    s->closed = true;
    if (!s->failure) s->failure = why;
    s->wake();
  }
  kick_writer();
  notify_pool();
}

H2Stream::~H2Stream() {
  if (connection) connection->detach(*this);
}

H2Pool::~H2Pool() {
  for (auto& c : connections) {
    c->changed_ = nullptr;
    c->abort("closed the connection: the gateway is stopping");
  }
}

std::shared_ptr<H2Connection> H2Pool::take_slot() {
  std::erase_if(connections, [](const std::shared_ptr<H2Connection>& c) { return c->dead(); });
  for (auto& c : connections) {
    if (c->free_slots() > 0) {
      c->reserve();
      return c;
    }
  }
  return nullptr;
}

void H2Pool::abort_all(std::string_view why) {
  for (auto& c : connections) c->abort(why);
  connections.clear();
  changed.cancel();
}

}  // namespace tollgate::upstream
