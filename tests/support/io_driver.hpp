#pragma once
// Test support: drive an io_context from a test thread until a coroutine or a condition is
// done, with a deadline so a test never hangs.
#include <chrono>
#include <functional>
#include <future>
#include <stdexcept>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace tollgate::testing {

// Runs `task` on `io` until it completes; throws std::runtime_error after `limit`.
template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> task,
      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto future = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("coroutine did not finish in time");
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  return future.get();
}

// Drives `io` until `done()` or `limit`; returns whether `done()` became true.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace tollgate::testing
