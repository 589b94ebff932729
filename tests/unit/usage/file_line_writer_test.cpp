#include "line_writer.hpp"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "file_sink_test_support.hpp"

namespace tollgate::usage {
namespace {

using tollgate::testing::make_record;
using tollgate::testing::poll_until;
using tollgate::testing::split_lines;

// What the fake output does, shared with the test (the writer owns the output itself).
struct FakeState {
  std::mutex mutex;
  std::condition_variable changed;
  std::string written;
  int fail_with = 0;             // errno for every write, 0: writes succeed
  std::size_t take_lines = 0;    // with fail_with: whole lines taken before failing
  bool hold = false;             // writes wait (bounded) until released
  bool holding = false;          // a write is waiting now
  int syncs = 0;
  int writes = 0;                // write calls
};

class FakeOutput final : public LineOutput {
 public:
  explicit FakeOutput(std::shared_ptr<FakeState> state) : state_(std::move(state)) {}

  Written write(std::string_view lines) override {
    std::unique_lock lock(state_->mutex);
    if (state_->hold) {
      state_->holding = true;
      state_->changed.notify_all();
      state_->changed.wait_for(lock, std::chrono::seconds(10), [&] { return !state_->hold; });
      state_->holding = false;
    }
    ++state_->writes;
    if (state_->fail_with == 0) {
      state_->written += lines;
      return {lines.size(), 0};
    }
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < state_->take_lines && bytes < lines.size(); ++i) {
      bytes = lines.find('\n', bytes) + 1;
    }
    state_->written += lines.substr(0, bytes);
    return {bytes, state_->fail_with};
  }

  int sync() override {
    std::lock_guard lock(state_->mutex);
    ++state_->syncs;
    return 0;
  }

 private:
  std::shared_ptr<FakeState> state_;
};

struct Harness {
  explicit Harness(std::size_t capacity = 1'024,
                   std::chrono::milliseconds sync_interval = std::chrono::seconds(1))
      : writer("fake", 1, LineWriter::Options{capacity, sync_interval}, std::make_unique<FakeOutput>(state)) {}

  template <class F>
  auto with_state(F f) {
    std::lock_guard lock(state->mutex);
    return f(*state);
  }

  std::shared_ptr<FakeState> state = std::make_shared<FakeState>();
  LineWriter writer;
};

TEST(LineWriter, AWriteErrorDropsTheRecordsAndClearsReadyUntilAWriteSucceeds) {
  Harness h;
  h.with_state([](FakeState& s) { s.fail_with = ENOSPC; });
  for (std::size_t n = 0; n < 5; ++n) h.writer.emit(0, make_record(0, n));
  EXPECT_TRUE(poll_until([&] { return h.writer.stats().dropped == 5; }));
  EXPECT_FALSE(h.writer.ready());
  EXPECT_EQ(h.writer.stats().delivered, 0u);

  h.with_state([](FakeState& s) { s.fail_with = 0; });
  h.writer.emit(0, make_record(0, 5));
  EXPECT_TRUE(poll_until([&] { return h.writer.stats().delivered == 1; }));
  EXPECT_TRUE(poll_until([&] { return h.writer.ready(); }));
  h.writer.close();
  EXPECT_EQ(h.with_state([](FakeState& s) { return s.written; }), make_record(0, 5).payload + '\n');
  EXPECT_EQ(h.writer.stats().dropped, 5u);
}

TEST(LineWriter, AFailedWriteCountsTheLinesItTookAsDelivered) {
  Harness h;
  // Hold the first write so that all four records land in one batch.
  h.with_state([](FakeState& s) {
    s.hold = true;
    s.fail_with = EIO;
    s.take_lines = 2;
  });
  h.writer.emit(0, make_record(0, 0));
  ASSERT_TRUE(poll_until([&] { return h.with_state([](FakeState& s) { return s.holding; }); }));
  for (std::size_t n = 1; n < 4; ++n) h.writer.emit(0, make_record(0, n));
  h.with_state([](FakeState& s) {
    s.hold = false;
    s.changed.notify_all();
  });
  h.writer.close();
  // Batch one: record 0, taken. Batch two: records 1..3, two taken, one dropped.
  EXPECT_EQ(h.writer.stats().delivered, 3u);
  EXPECT_EQ(h.writer.stats().dropped, 1u);
  EXPECT_FALSE(h.writer.ready());
  EXPECT_EQ(split_lines(h.with_state([](FakeState& s) { return s.written; })).lines.size(), 3u);
}

TEST(LineWriter, AFullQueueDropsAndNeverBlocksTheWorker) {
  Harness h(4);
  h.with_state([](FakeState& s) { s.hold = true; });
  h.writer.emit(0, make_record(0, 0));
  ASSERT_TRUE(poll_until([&] { return h.with_state([](FakeState& s) { return s.holding; }); }));
  // The writer is stuck in a write: the worker's queue (4) fills and the rest is dropped.
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t n = 1; n < 100; ++n) h.writer.emit(0, make_record(0, n));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(h.writer.stats().dropped, 95u);
  h.with_state([](FakeState& s) {
    s.hold = false;
    s.changed.notify_all();
  });
  h.writer.close();
  EXPECT_EQ(h.writer.stats().delivered, 5u);
  EXPECT_EQ(h.writer.stats().dropped, 95u);
}

TEST(LineWriter, SyncsWithinTheIntervalAndAtClose) {
  Harness h(1'024, std::chrono::milliseconds(50));
  h.writer.emit(0, make_record(0, 0));
  EXPECT_TRUE(poll_until([&] { return h.with_state([](FakeState& s) { return s.syncs; }) >= 1; },
                         std::chrono::seconds(2)));
  const int before = h.with_state([](FakeState& s) { return s.syncs; });
  h.writer.emit(0, make_record(0, 1));
  EXPECT_TRUE(poll_until([&] { return h.writer.stats().delivered == 2; }));
  h.writer.close();
  EXPECT_GT(h.with_state([](FakeState& s) { return s.syncs; }), before);
}

// Under a steady trickle the writer batches: it lingers after each write instead of being woken
// (a futex call on the worker) and writing (a write(2)) for every record. 200 records 100 us
// apart took about 200 writes before the linger; with it, one per 2 ms, about 10.
TEST(LineWriter, ASteadyTrickleIsWrittenInBatchesNotOneWritePerRecord) {
  Harness h;
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t n = 0; n < 200; ++n) {
    h.writer.emit(0, make_record(0, n));
    std::this_thread::sleep_until(start + std::chrono::microseconds(100) * (n + 1));
  }
  h.writer.close();
  EXPECT_EQ(h.writer.stats().delivered, 200u);
  EXPECT_EQ(split_lines(h.with_state([](FakeState& s) { return s.written; })).lines.size(), 200u);
  EXPECT_LE(h.with_state([](FakeState& s) { return s.writes; }), 60);
}

TEST(LineWriter, APayloadWithANewlineIsDroppedNotSplit) {
  Harness h;
  h.writer.emit(0, Record{"acme", "split", "{\"w\":\n0}"});
  h.writer.emit(0, Record{"acme", "empty", ""});
  h.writer.emit(0, make_record(0, 1));
  h.writer.close();
  EXPECT_EQ(h.with_state([](FakeState& s) { return s.written; }), make_record(0, 1).payload + '\n');
  EXPECT_EQ(h.writer.stats().delivered, 1u);
  EXPECT_EQ(h.writer.stats().dropped, 2u);
  EXPECT_TRUE(h.writer.ready());
}

}  // namespace
}  // namespace tollgate::usage
