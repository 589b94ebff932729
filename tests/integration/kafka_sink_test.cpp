// Integration tests of KafkaSink against librdkafka's mock cluster, read back with a real
// consumer: one-to-one delivery, a broker outage, and spools left by an earlier process.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kafka_cluster.hpp"
#include "spool.hpp"
#include "tollgate/usage/kafka_sink.hpp"

namespace tollgate::usage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::KafkaMessage;
using testing::MockKafkaCluster;

constexpr const char* kTopic = "llm.usage";

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 20s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

Record make(int i) {
  Record r;
  r.key = "tenant-" + std::to_string(i % 5);
  r.event_id = "ev-" + std::to_string(i);
  r.payload = R"({"schema":1,"event_id":")" + r.event_id + R"(","tenant":")" + r.key + R"(","i":)" +
              std::to_string(i) + "}";
  return r;
}

std::string event_id_of(const std::string& payload) {
  const auto at = payload.find("\"event_id\":\"");
  if (at == std::string::npos) return "";
  const auto start = at + 12;
  return payload.substr(start, payload.find('"', start) - start);
}

class KafkaSinkIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tollgate-kafka-it-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    cluster_.create_topic(kTopic, 4);
    config_.kafka_brokers = cluster_.bootstrap_servers();
    config_.kafka_topic = kTopic;
    config_.kafka_spool_dir = dir_ + "/spool";
    config_.kafka_delivery_timeout = 10s;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every message is one of the records emitted (by event_id), byte for byte; each of
  // `expected` ids arrived at least once. Returns how many duplicates arrived.
  static std::size_t expect_all_delivered(const std::vector<KafkaMessage>& got, const std::set<int>& expected) {
    std::map<std::string, int> seen;
    for (const auto& m : got) {
      const std::string id = event_id_of(m.value);
      const int i = std::stoi(id.substr(3));
      EXPECT_TRUE(expected.count(i)) << "unexpected event " << id;
      const Record want = make(i);
      EXPECT_EQ(m.key, want.key) << id;
      EXPECT_EQ(m.value, want.payload) << id;
      ++seen[id];
    }
    std::size_t missing = 0;
    for (int i : expected) missing += seen.count("ev-" + std::to_string(i)) == 0 ? 1 : 0;
    EXPECT_EQ(missing, 0u);
    return got.size() - seen.size();
  }

  static std::set<int> range(int from, int to) {
    std::set<int> s;
    for (int i = from; i < to; ++i) s.insert(i);
    return s;
  }

  MockKafkaCluster cluster_{3};
  std::string dir_;
  config::UsageConfig config_;
};

TEST_F(KafkaSinkIntegration, RecordsFromManyThreadsArriveOneToOne) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  auto sink = KafkaSink::open(config_, kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&sink, t] {
      for (int j = 0; j < kPerThread; ++j) sink->emit(static_cast<std::size_t>(t), make(t * kPerThread + j));
    });
  }
  for (auto& th : threads) th.join();
  constexpr int kTotal = kThreads * kPerThread;
  ASSERT_TRUE(eventually([&] { return sink->stats().delivered == kTotal; })) << sink->stats().delivered;
  EXPECT_TRUE(sink->ready());
  sink->close();
  const SinkStats s = sink->stats();
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.spool_bytes, 0u);

  const auto got = cluster_.consume_all(kTopic, kTotal, 20s);
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kTotal));
  EXPECT_EQ(expect_all_delivered(got, range(0, kTotal)), 0u);
  // Keyed by tenant: one tenant's events all land in one partition.
  std::map<std::string, std::set<int>> partitions;
  for (const auto& m : got) partitions[m.key].insert(m.partition);
  for (const auto& [tenant, parts] : partitions) EXPECT_EQ(parts.size(), 1u) << tenant;
}

TEST_F(KafkaSinkIntegration, BrokerOutageSpoolsAndEverythingArrivesAfterwards) {
  config_.kafka_delivery_timeout = 1s;
  auto sink = KafkaSink::open(config_, 2);
  for (int i = 0; i < 100; ++i) sink->emit(0, make(i));
  ASSERT_TRUE(eventually([&] { return sink->stats().delivered == 100; }));

  // Down while records are in flight: some time out (after 1 s) rather than never leaving.
  for (int i = 100; i < 200; ++i) sink->emit(static_cast<std::size_t>(i % 2), make(i));
  cluster_.set_down();
  ASSERT_TRUE(eventually([&] { return sink->stats().spooled > 0; })) << "no record was spooled";
  for (int i = 200; i < 300; ++i) {
    sink->emit(1, make(i));
    if (i % 20 == 0) std::this_thread::sleep_for(20ms);  // a load spread over the outage
  }
  ASSERT_TRUE(eventually([&] {
    const auto s = sink->stats();
    return s.delivered + s.spooled >= 300;
  }));
  EXPECT_GT(sink->stats().spool_bytes, 0u);
  EXPECT_TRUE(sink->ready());  // spool below its cap

  cluster_.set_up();
  ASSERT_TRUE(eventually([&] {
    const auto s = sink->stats();
    return s.delivered + s.replayed >= 300 && s.spool_bytes == 0;
  })) << "delivered " << sink->stats().delivered << " replayed " << sink->stats().replayed
      << " spooled " << sink->stats().spooled << " spool_bytes " << sink->stats().spool_bytes;
  sink->close();
  const SinkStats s = sink->stats();
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.delivered + s.replayed, 300u);  // each record acknowledged exactly once by us
  EXPECT_GE(s.replayed, s.spooled > 0 ? 1u : 0u);

  const auto got = cluster_.consume_all(kTopic, 300, 20s);
  const std::size_t duplicates = expect_all_delivered(got, range(0, 300));
  EXPECT_EQ(got.size(), 300 + duplicates);
}

// A spool written by an earlier sink whose broker was down is replayed by the next one.
TEST_F(KafkaSinkIntegration, SpoolLeftByAnEarlierSinkIsReplayed) {
  cluster_.set_down();
  config_.kafka_delivery_timeout = 500ms;
  {
    auto first = KafkaSink::open(config_, 1);
    for (int i = 0; i < 40; ++i) first->emit(0, make(i));
    ASSERT_TRUE(eventually([&] { return first->stats().spooled == 40; }));
    // Destroyed without close(): the destructor shuts down like a SIGTERM'd gateway would.
  }
  cluster_.set_up();
  config_.kafka_delivery_timeout = 10s;
  auto second = KafkaSink::open(config_, 1);
  EXPECT_GT(second->stats().spool_bytes, 0u);
  ASSERT_TRUE(eventually([&] { return second->stats().replayed == 40 && second->stats().spool_bytes == 0; }))
      << second->stats().replayed;
  second->close();
  const auto got = cluster_.consume_all(kTopic, 40, 20s);
  EXPECT_EQ(got.size(), 40u);
  EXPECT_EQ(expect_all_delivered(got, range(0, 40)), 0u);
  EXPECT_TRUE(fs::is_empty(config_.kafka_spool_dir) ||
              (fs::exists(config_.kafka_spool_dir + "/LOCK") &&
               std::distance(fs::directory_iterator(config_.kafka_spool_dir), fs::directory_iterator{}) == 1));
}

// Segments written directly (as a process killed mid-write leaves them), the last record torn:
// the intact ones are delivered, the torn one reported.
TEST_F(KafkaSinkIntegration, TornSpoolRecordIsSkippedAndTheRestDelivered) {
  {
    SpoolOptions o;
    o.dir = config_.kafka_spool_dir;
    o.segment_bytes = 2048;
    Spool spool(o);
    for (int i = 0; i < 30; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(config_.kafka_spool_dir)) {
    if (e.path().extension() == ".spool") segments.push_back(e.path());
  }
  std::sort(segments.begin(), segments.end());
  ASSERT_GT(segments.size(), 1u);
  fs::resize_file(segments.back(), fs::file_size(segments.back()) - 4);  // tear record 29

  auto sink = KafkaSink::open(config_, 1);
  ASSERT_TRUE(eventually([&] { return sink->stats().replayed == 29 && sink->stats().spool_bytes == 0; }))
      << sink->stats().replayed;
  EXPECT_EQ(sink->spool_damage().torn, 1u);
  EXPECT_EQ(sink->spool_damage().corrupt, 0u);
  sink->close();
  const auto got = cluster_.consume_all(kTopic, 29, 20s);
  EXPECT_EQ(got.size(), 29u);
  EXPECT_EQ(expect_all_delivered(got, range(0, 29)), 0u);
}

// Records emitted while replay is running go straight to the broker; both sets arrive.
TEST_F(KafkaSinkIntegration, LiveRecordsFlowWhileTheSpoolReplays) {
  {
    SpoolOptions o;
    o.dir = config_.kafka_spool_dir;
    Spool spool(o);
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(spool.append(make(i)), Spool::Append::ok);
  }
  auto sink = KafkaSink::open(config_, 1);
  for (int i = 2000; i < 2500; ++i) sink->emit(0, make(i));
  ASSERT_TRUE(eventually([&] {
    const auto s = sink->stats();
    return s.replayed == 2000 && s.delivered == 500 && s.spool_bytes == 0;
  }));
  sink->close();
  const auto got = cluster_.consume_all(kTopic, 2500, 20s);
  EXPECT_EQ(got.size(), 2500u);
  EXPECT_EQ(expect_all_delivered(got, range(0, 2500)), 0u);
}

// The broker rejects a Produce request (stale producer epoch): librdkafka fails that batch, the
// sink spools and replays it, and every record still arrives.
TEST_F(KafkaSinkIntegration, RejectedProduceIsRecoveredThroughTheSpool) {
  auto sink = KafkaSink::open(config_, 1);
  for (int i = 0; i < 10; ++i) sink->emit(0, make(i));
  ASSERT_TRUE(eventually([&] { return sink->stats().delivered == 10; }));
  cluster_.push_request_errors(0 /* Produce */, {RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH});
  for (int i = 10; i < 60; ++i) sink->emit(0, make(i));
  ASSERT_TRUE(eventually([&] {
    const auto s = sink->stats();
    return s.delivered + s.replayed >= 60 && s.spool_bytes == 0;
  })) << "delivered " << sink->stats().delivered << " replayed " << sink->stats().replayed;
  sink->close();
  EXPECT_EQ(sink->stats().dropped, 0u);
  const auto got = cluster_.consume_all(kTopic, 60, 20s);
  const std::size_t duplicates = expect_all_delivered(got, range(0, 60));
  EXPECT_EQ(got.size(), 60 + duplicates);
}

}  // namespace
}  // namespace tollgate::usage
