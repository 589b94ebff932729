#include "asio_adapter.hpp"

#include <memory>
#include <utility>

#include <boost/asio/posix/stream_descriptor.hpp>

namespace tollgate::redis {
namespace {

namespace asio = boost::asio;
using Wait = asio::posix::descriptor_base::wait_type;

// The state behind hiredis's ev.data. Owned by shared_ptrs: one held by hiredis while the
// context is attached (`self_`), one by each pending wait, so a wait completing after the
// cleanup hook finds a detached watcher instead of freed memory.
class Watcher {
 public:
  Watcher(redisAsyncContext* context, asio::posix::stream_descriptor descriptor)
      : context_(context), descriptor_(std::move(descriptor)) {}

  static void add_read(void* data) { static_cast<Watcher*>(data)->want(Wait::wait_read, true); }
  static void del_read(void* data) { static_cast<Watcher*>(data)->want(Wait::wait_read, false); }
  static void add_write(void* data) { static_cast<Watcher*>(data)->want(Wait::wait_write, true); }
  static void del_write(void* data) { static_cast<Watcher*>(data)->want(Wait::wait_write, false); }

  // hiredis is about to free the context (and close the socket). May run more than once
  // (hiredis 0.14 calls it from both its disconnect and free paths): the hooks are unset on
  // the first call, so hiredis never calls us again.
  static void cleanup(void* data) {
    auto* watcher = static_cast<Watcher*>(data);
    const std::shared_ptr<Watcher> keep = std::move(watcher->self_);
    if (redisAsyncContext* context = std::exchange(watcher->context_, nullptr)) {
      context->ev.addRead = nullptr;
      context->ev.delRead = nullptr;
      context->ev.addWrite = nullptr;
      context->ev.delWrite = nullptr;
      context->ev.cleanup = nullptr;
      context->ev.data = nullptr;
    }
    // Cancels the pending waits (their handlers see the watcher detached) without closing.
    if (watcher->descriptor_.is_open()) watcher->descriptor_.release();
  }

  std::shared_ptr<Watcher> self_;

 private:
  struct Direction {
    bool wanted = false;   // hiredis wants to hear about this readiness
    bool waiting = false;  // an async_wait is pending
  };

  Direction& direction(Wait wait) { return wait == Wait::wait_read ? read_ : write_; }

  void want(Wait wait, bool wanted) {
    direction(wait).wanted = wanted;
    if (wanted) arm(wait);
    // An unwanted wait that is already pending completes later and is ignored: Asio cannot
    // cancel one direction of a descriptor alone.
  }

  void arm(Wait wait) {
    Direction& d = direction(wait);
    if (d.waiting || context_ == nullptr) return;
    d.waiting = true;
    descriptor_.async_wait(wait, [self = self_, wait](const boost::system::error_code&) { self->on_ready(wait); });
  }

  // Errors are hiredis's business: its read or write sees them and tears the context down.
  void on_ready(Wait wait) {
    Direction& d = direction(wait);
    d.waiting = false;
    if (context_ == nullptr || !d.wanted) return;
    if (wait == Wait::wait_read) {
      redisAsyncHandleRead(context_);
    } else {
      redisAsyncHandleWrite(context_);
    }
    // The call may have freed the context (cleanup ran) or changed what hiredis wants.
    if (context_ != nullptr && direction(wait).wanted) arm(wait);
  }

  redisAsyncContext* context_;
  asio::posix::stream_descriptor descriptor_;
  Direction read_;
  Direction write_;
};

}  // namespace

bool attach_to_asio(redisAsyncContext* context, const asio::any_io_executor& executor) {
  if (context->ev.data != nullptr) return false;
  asio::posix::stream_descriptor descriptor(executor);
  boost::system::error_code ec;
  descriptor.assign(context->c.fd, ec);
  if (ec) {
    // Not registered: nothing to undo but the ownership Asio now claims.
    if (descriptor.is_open()) descriptor.release();
    return false;
  }
  auto watcher = std::make_shared<Watcher>(context, std::move(descriptor));
  watcher->self_ = watcher;
  context->ev.data = watcher.get();
  context->ev.addRead = &Watcher::add_read;
  context->ev.delRead = &Watcher::del_read;
  context->ev.addWrite = &Watcher::add_write;
  context->ev.delWrite = &Watcher::del_write;
  context->ev.cleanup = &Watcher::cleanup;
  // The first write readiness tells hiredis the non-blocking connect finished.
  Watcher::add_read(watcher.get());
  Watcher::add_write(watcher.get());
  return true;
}

}  // namespace tollgate::redis
