#include "handoff.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "file_sink_test_support.hpp"

namespace tollgate::usage {
namespace {

using tollgate::testing::make_record;
using tollgate::testing::parse_line;

std::vector<std::string> drain_payloads(Handoff& handoff) {
  std::vector<std::string> out;
  while (handoff.drain(1'024, [&](Record&& r) { out.push_back(std::move(r.payload)); }) != 0) {
  }
  return out;
}

TEST(RecordRing, CapacityIsAPowerOfTwo) {
  EXPECT_EQ(RecordRing(0).capacity(), 2u);
  EXPECT_EQ(RecordRing(3).capacity(), 4u);
  EXPECT_EQ(RecordRing(64).capacity(), 64u);
  EXPECT_EQ(RecordRing(65).capacity(), 128u);
}

TEST(Handoff, KeepsEachProducersOrder) {
  Handoff handoff(3, 16);
  for (std::size_t n = 0; n < 10; ++n) {
    for (std::size_t w = 0; w < 3; ++w) ASSERT_TRUE(handoff.push(w, make_record(w, n)));
  }
  std::vector<std::size_t> next(3, 0);
  for (const auto& payload : drain_payloads(handoff)) {
    const auto p = parse_line(payload);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->n, next[p->w]++);
  }
  EXPECT_EQ(next, (std::vector<std::size_t>{10, 10, 10}));
}

TEST(Handoff, AFullRingRefusesAndCountsWithoutBlocking) {
  Handoff handoff(2, 4);
  for (std::size_t n = 0; n < 4; ++n) EXPECT_TRUE(handoff.push(0, make_record(0, n)));
  EXPECT_FALSE(handoff.push(0, make_record(0, 4)));
  EXPECT_FALSE(handoff.push(0, make_record(0, 5)));
  EXPECT_TRUE(handoff.push(1, make_record(1, 0))) << "another worker's ring has room";
  EXPECT_EQ(handoff.dropped(), 2u);
  EXPECT_EQ(drain_payloads(handoff).size(), 5u);
  EXPECT_TRUE(handoff.push(0, make_record(0, 6))) << "room again once drained";
  EXPECT_EQ(handoff.dropped(), 2u);
}

TEST(Handoff, RefusesOnceClosed) {
  Handoff handoff(1, 4);
  EXPECT_TRUE(handoff.push(0, make_record(0, 0)));
  handoff.close();
  EXPECT_TRUE(handoff.closed());
  EXPECT_FALSE(handoff.push(0, make_record(0, 1)));
  EXPECT_EQ(handoff.dropped(), 1u);
  EXPECT_EQ(drain_payloads(handoff).size(), 1u) << "what came before close is still there";
}

TEST(Handoff, AWorkerIndexOutOfRangeIsABug) {
  Handoff handoff(2, 4);
  EXPECT_THROW(handoff.push(2, make_record(2, 0)), std::out_of_range);
  EXPECT_THROW(Handoff(0, 4), std::invalid_argument);
}

TEST(Handoff, WaitReturnsAtOnceWhenSomethingIsQueued) {
  Handoff handoff(1, 4);
  handoff.push(0, make_record(0, 0));
  const auto start = std::chrono::steady_clock::now();
  handoff.wait(std::chrono::seconds(20));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// The consumer sleeps far longer than the test may take; only a wake-up ends it in time.
TEST(Handoff, PushWakesASleepingConsumer) {
  Handoff handoff(1, 4);
  std::atomic<bool> got{false};
  const auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    for (int i = 0; i < 1'000 && !got; ++i) {
      handoff.wait(std::chrono::seconds(20));
      if (handoff.drain(4, [](Record&&) {}) != 0) got = true;
    }
  });
  std::this_thread::yield();
  handoff.push(0, make_record(0, 0));
  consumer.join();
  EXPECT_TRUE(got);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(Handoff, CloseWakesASleepingConsumer) {
  Handoff handoff(1, 4);
  const auto start = std::chrono::steady_clock::now();
  std::thread consumer([&] {
    for (int i = 0; i < 1'000 && !handoff.closed(); ++i) handoff.wait(std::chrono::seconds(20));
  });
  std::this_thread::yield();
  handoff.close();
  consumer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// Producers race a consumer that sleeps whenever it finds nothing: every record is either
// received, in its producer's order, or counted as dropped; none is lost or duplicated.
TEST(Handoff, ConcurrentProducersAndASleepingConsumer) {
  constexpr std::size_t kWorkers = 4;
  constexpr std::size_t kPerWorker = 50'000;
  Handoff handoff(kWorkers, 256);
  std::vector<std::size_t> received(kWorkers, 0);
  std::vector<std::size_t> last(kWorkers, 0);
  bool in_order = true;
  std::thread consumer([&] {
    auto take = [&](Record&& r) {
      const auto p = parse_line(r.payload);
      if (!p || (received[p->w] != 0 && p->n <= last[p->w])) in_order = false;
      if (p) {
        last[p->w] = p->n;
        ++received[p->w];
      }
    };
    for (;;) {
      const bool closing = handoff.closed();
      if (handoff.drain(64, take) != 0) continue;
      if (closing) break;
      handoff.wait(std::chrono::milliseconds(100));
    }
  });
  std::vector<std::thread> producers;
  for (std::size_t w = 0; w < kWorkers; ++w) {
    producers.emplace_back([&handoff, w] {
      for (std::size_t n = 0; n < kPerWorker; ++n) handoff.push(w, make_record(w, n, 1));
    });
  }
  for (auto& t : producers) t.join();
  handoff.close();
  consumer.join();
  std::size_t total = 0;
  for (std::size_t n : received) total += n;
  EXPECT_TRUE(in_order);
  EXPECT_EQ(total + handoff.dropped(), kWorkers * kPerWorker);
}

TEST(Handoff, DestroyingItDestroysQueuedRecords) {
  Handoff handoff(2, 8);
  for (std::size_t n = 0; n < 8; ++n) handoff.push(n % 2, make_record(n % 2, n, 64));
  // The sanitizer build reports a leak if the ring does not destroy what it still holds.
}

}  // namespace
}  // namespace tollgate::usage
