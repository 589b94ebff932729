#include "handoff.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bit>
#include <ctime>
#include <stdexcept>
#include <string>

namespace tollgate::usage {
namespace {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
                  sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
              "the futex word must be a plain 32-bit integer");

std::uint32_t* futex_word(std::atomic<std::uint32_t>& word) {
  return reinterpret_cast<std::uint32_t*>(&word);
}

// Sleeps while `word` holds `expected`, at most `timeout`. EINTR, EAGAIN (the word had already
// changed) and ETIMEDOUT all simply return: the caller re-checks its condition.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                std::chrono::milliseconds timeout) {
  const auto ms = std::max<std::chrono::milliseconds::rep>(timeout.count(), 0);
  timespec ts{};
  ts.tv_sec = static_cast<std::time_t>(ms / 1000);
  ts.tv_nsec = static_cast<long>((ms % 1000) * 1'000'000);
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>& word) {
  ::syscall(SYS_futex, futex_word(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace

RecordRing::RecordRing(std::size_t min_capacity)
    : mask_(std::bit_ceil(std::max<std::size_t>(min_capacity, 2)) - 1),
      // Default-initialised bytes: the kernel maps the pages only when a slot is first used.
      slots_(new Slot[mask_ + 1]) {}

RecordRing::~RecordRing() {
  auto discard = [](Record&&) {};
  while (pop_up_to(capacity(), discard) != 0) {
  }
}

Handoff::Handoff(std::size_t producers, std::size_t capacity_per_producer) {
  if (producers == 0) throw std::invalid_argument("usage hand-off: zero producers");
  lanes_.reserve(producers);
  for (std::size_t i = 0; i < producers; ++i) {
    lanes_.push_back(std::make_unique<Lane>(capacity_per_producer));
  }
}

bool Handoff::push(std::size_t producer, Record record) {
  if (producer >= lanes_.size()) {
    std::string message = "usage hand-off: worker index ";
    message += std::to_string(producer);
    message += " out of range";
    throw std::out_of_range(message);
  }
  Lane& lane = *lanes_[producer];
  if (closed_.load(std::memory_order_relaxed) || !lane.ring.try_push(record)) {
    lane.dropped.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Dekker with wait(), all four accesses seq_cst (the ring's tail store included): either the
  // consumer's emptiness check sees this record, or this load sees the consumer's flag and
  // wakes it. With weaker orders both could miss each other and the record wait for the timer.
  if (sleeping_.load(std::memory_order_seq_cst) != 0) wake_consumer();
  return true;
}

void Handoff::wait(std::chrono::milliseconds timeout) {
  sleeping_.store(1, std::memory_order_seq_cst);
  if (!closed_.load(std::memory_order_seq_cst) && all_empty()) futex_wait(sleeping_, 1, timeout);
  sleeping_.store(0, std::memory_order_relaxed);
}

void Handoff::close() {
  closed_.store(true, std::memory_order_seq_cst);
  wake_consumer();
}

std::uint64_t Handoff::dropped() const {
  std::uint64_t n = 0;
  for (const auto& lane : lanes_) n += lane->dropped.load(std::memory_order_relaxed);
  return n;
}

bool Handoff::all_empty() const {
  for (const auto& lane : lanes_) {
    if (!lane->ring.empty()) return false;
  }
  return true;
}

void Handoff::wake_consumer() {
  // Only the producer that flips the flag makes the system call; the others see 0.
  if (sleeping_.exchange(0, std::memory_order_seq_cst) != 0) futex_wake_one(sleeping_);
}

}  // namespace tollgate::usage
