#include "tollgate/core/request_id.hpp"

#include "tollgate/core/digits.hpp"

#include <atomic>
#include <cstdint>
#include <random>

namespace tollgate {
namespace {

std::uint64_t process_nonce() {
  static const std::uint64_t nonce = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  return nonce;
}

std::atomic<std::uint32_t> g_next_thread{0};

}  // namespace

std::string next_request_id() {
  thread_local const std::uint32_t thread_index = g_next_thread.fetch_add(1, std::memory_order_relaxed);
  thread_local std::uint64_t counter = 0;
  std::string id;
  id.reserve(32);
  id += "req_";
  append_hex(id, process_nonce(), 16);
  append_hex(id, thread_index, 4);
  append_hex(id, ++counter, 8);
  return id;
}

}  // namespace tollgate
