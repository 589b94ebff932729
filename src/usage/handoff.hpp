#pragma once
// Emit stage: the lock-free hand-off of usage records from the event-loop threads (one producer
// per worker) to the one thread of a sink that does the I/O (the consumer). Used by the file
// and stdout sinks; reusable by any sink that writes on a thread of its own.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// Separates what the producer writes from what the consumer writes (no false sharing).
inline constexpr std::size_t kCacheLine = 64;

// A bounded single-producer/single-consumer FIFO of Records: a ring of uninitialised slots
// (memory is touched only as the ring first fills), a record constructed in place on push and
// destroyed on pop. One thread pushes, one other thread pops; neither ever waits for the other.
class RecordRing {
 public:
  // The capacity is `min_capacity` rounded up to a power of two (at least 2).
  explicit RecordRing(std::size_t min_capacity);
  // Destroys the records still queued. No thread may use the ring any more.
  ~RecordRing();
  RecordRing(const RecordRing&) = delete;
  RecordRing& operator=(const RecordRing&) = delete;

  std::size_t capacity() const { return mask_ + 1; }

  // Producer thread only. Moves from `record` and returns true, or returns false (leaving
  // `record` untouched) when the ring is full.
  bool try_push(Record& record) {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail - head_cache_ == capacity()) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail - head_cache_ == capacity()) return false;
    }
    new (slot(tail)) Record(std::move(record));
    // seq_cst, not just release: Handoff's sleep/wake handshake relies on it (see push()).
    tail_.store(tail + 1, std::memory_order_seq_cst);
    return true;
  }

  // Consumer thread only. Pops up to `max` records, oldest first, passing each to
  // `take(Record&&)`; returns how many it popped.
  template <class F>
  std::size_t pop_up_to(std::size_t max, F& take) {
    std::size_t head = head_.load(std::memory_order_relaxed);
    if (head == tail_cache_) tail_cache_ = tail_.load(std::memory_order_acquire);
    const std::size_t n = std::min(max, tail_cache_ - head);
    for (std::size_t i = 0; i < n; ++i, ++head) {
      Record* r = slot(head);
      // Destroyed and published one by one, so a throwing `take` leaves the ring consistent.
      struct Release {
        RecordRing& ring;
        Record* record;
        std::size_t next;
        ~Release() {
          record->~Record();
          ring.head_.store(next, std::memory_order_release);
        }
      } release{*this, r, head + 1};
      take(std::move(*r));
    }
    return n;
  }

  // Consumer thread only: whether nothing is queued (as far as the consumer can see now).
  bool empty() const {
    return head_.load(std::memory_order_relaxed) == tail_.load(std::memory_order_seq_cst);
  }

 private:
  struct Slot {
    alignas(Record) std::byte bytes[sizeof(Record)];
  };

  Record* slot(std::size_t index) const {
    return std::launder(reinterpret_cast<Record*>(slots_[index & mask_].bytes));
  }

  // Written by the producer only.
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
  std::size_t head_cache_ = 0;
  // Written by the consumer only.
  alignas(kCacheLine) std::atomic<std::size_t> head_{0};
  std::size_t tail_cache_ = 0;
  // Read-only after construction.
  alignas(kCacheLine) std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
};

// N producers, one consumer: one RecordRing per producer (a worker), so producers never
// contend with each other, and a sleeping flag that doubles as a futex word, so a producer
// makes a wake-up system call only when the consumer is asleep (at most one per sleep).
//
// Bound: `capacity_per_producer` records per producer (rounded up to a power of two). A push
// into a full ring fails at once: the record is dropped and counted, never waited for. The
// consumer reports drops (dropped()); a producer never does I/O.
class Handoff {
 public:
  Handoff(std::size_t producers, std::size_t capacity_per_producer);
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;

  std::size_t producers() const { return lanes_.size(); }
  std::size_t capacity_per_producer() const { return lanes_.front()->ring.capacity(); }

  // Producer `producer`'s thread only (one thread per index at a time). Never blocks, takes no
  // lock; makes one futex wake system call when the consumer is asleep. Returns false when the
  // ring is full or the hand-off is closed: the record is destroyed and counted in dropped().
  // Throws std::out_of_range for a producer index out of range (a bug).
  bool push(std::size_t producer, Record record);

  // Consumer thread only. Pops up to `max_per_producer` records from each ring in turn,
  // passing each to `take(Record&&)`; a producer's records arrive in the order it pushed them.
  // Returns how many it popped.
  template <class F>
  std::size_t drain(std::size_t max_per_producer, F&& take) {
    std::size_t n = 0;
    for (const auto& lane : lanes_) n += lane->ring.pop_up_to(max_per_producer, take);
    return n;
  }

  // Consumer thread only. Returns once a record was pushed, the hand-off was closed or
  // `timeout` passed (or spuriously); returns at once if a record is already queued.
  void wait(std::chrono::milliseconds timeout);

  // Any thread: refuses (and counts) later pushes and wakes the consumer. Pushes that happened
  // before close() are all visible to a consumer that has seen closed() return true.
  void close();
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // Any thread: records refused so far (ring full or closed).
  std::uint64_t dropped() const;

 private:
  struct Lane {
    explicit Lane(std::size_t capacity) : ring(capacity) {}
    RecordRing ring;
    alignas(kCacheLine) std::atomic<std::uint64_t> dropped{0};
  };

  bool all_empty() const;
  void wake_consumer();

  std::vector<std::unique_ptr<Lane>> lanes_;
  // 1 while the consumer is (about to be) asleep in wait(); the futex word it sleeps on.
  alignas(kCacheLine) std::atomic<std::uint32_t> sleeping_{0};
  std::atomic<bool> closed_{false};
};

}  // namespace tollgate::usage
