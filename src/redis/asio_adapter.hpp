#pragma once
// Private to src/redis: drives one hiredis async context from an Asio event loop, the way
// hiredis's libevent/libuv adapters do (its addRead/delRead/addWrite/delWrite/cleanup hooks),
// with async_wait(wait_read / wait_write) on an asio::posix::stream_descriptor.
#include <hiredis/async.h>

#include <boost/asio/any_io_executor.hpp>

namespace tollgate::redis {

// Attaches `context` (fresh from redisAsyncConnect, nothing attached yet) to `executor`'s
// reactor and waits for both directions, so the connect completion is seen. Returns false
// when the descriptor cannot be registered (the caller frees the context).
//
// Ownership: hiredis owns the socket; the adapter only watches it and releases it (never
// closes it) when hiredis calls the cleanup hook, which it does whenever the context is freed
// (by redisAsyncFree, or by hiredis itself after a connection error). Pending waits then
// complete as no-ops, even if their handlers run after the context is gone. Calls hiredis
// (redisAsyncHandleRead/Write) only from handlers on `executor`.
bool attach_to_asio(redisAsyncContext* context, const boost::asio::any_io_executor& executor);

}  // namespace tollgate::redis
