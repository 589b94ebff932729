#include "tollgate/core/request_id.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
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
  char buf[48];
  std::snprintf(buf, sizeof buf, "req_%016llx%04x%08llx", static_cast<unsigned long long>(process_nonce()),
                thread_index & 0xffff, static_cast<unsigned long long>(++counter));
  return buf;
}

}  // namespace tollgate
