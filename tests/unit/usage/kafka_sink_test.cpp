// Unit tests of KafkaSink without a broker: start-up errors, and spooling when nothing answers.
#include "tollgate/usage/kafka_sink.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "spool.hpp"

namespace tollgate::usage {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class KafkaSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tollgate-kafka-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    config_.kafka_brokers = "127.0.0.1:1";  // nothing listens there
    config_.kafka_spool_dir = dir_ + "/spool";
    config_.kafka_delivery_timeout = 300ms;
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The message of the std::runtime_error open() throws, or "" when it does not throw.
  std::string open_error() {
    try {
      KafkaSink::open(config_, 1)->close();
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
  config::UsageConfig config_;
};

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TEST_F(KafkaSinkTest, RefusesToOverrideDeliverySemantics) {
  for (const char* name : {"enable.idempotence", "acks", "request.required.acks", "message.timeout.ms",
                           "bootstrap.servers", "client.id", "transactional.id"}) {
    config_.kafka_properties = {{name, "0"}};
    const std::string err = open_error();
    EXPECT_NE(err.find(std::string("'") + name + "'"), std::string::npos) << err;
    EXPECT_NE(err.find("cannot be overridden"), std::string::npos) << err;
  }
}

TEST_F(KafkaSinkTest, UnknownPropertyIsAStartUpErrorNamingIt) {
  config_.kafka_properties = {{"no.such.property", "1"}};
  const std::string err = open_error();
  EXPECT_NE(err.find("no.such.property"), std::string::npos) << err;
}

TEST_F(KafkaSinkTest, BadValueIsNamedButSecretValuesAreNeverShown) {
  config_.kafka_properties = {{"linger.ms", "not-a-number"}};
  std::string err = open_error();
  EXPECT_NE(err.find("linger.ms"), std::string::npos) << err;

  config_.kafka_properties = {{"security.protocol", "sasl_plaintext"}, {"sasl.mechanism", "BOGUS-hunter2-secret"}};
  err = open_error();
  EXPECT_NE(err, "");
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;

  config_.kafka_properties = {{"ssl.key.password", "hunter2"}, {"security.protocol", "nonsense"}};
  err = open_error();
  EXPECT_NE(err.find("security.protocol"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

TEST_F(KafkaSinkTest, OverridableDefaultsAreAccepted) {
  config_.kafka_properties = {{"compression.codec", "zstd"}, {"linger.ms", "20"}};
  EXPECT_EQ(open_error(), "");
}

TEST_F(KafkaSinkTest, UnusableSpoolDirectoryIsAStartUpError) {
  config_.kafka_spool_dir = "relative/dir";
  EXPECT_NE(open_error().find("spool_dir"), std::string::npos);
  config_.kafka_spool_dir = "/proc/tollgate-cannot-be-here";
  EXPECT_NE(open_error().find("spool_dir"), std::string::npos);
}

TEST_F(KafkaSinkTest, SecondSinkOnTheSameSpoolIsRefused) {
  auto first = KafkaSink::open(config_, 1);
  EXPECT_NE(open_error().find("in use"), std::string::npos);
  first->close();
}

// No broker: every record ends up in the spool, none is lost, and a later Spool reads them all.
TEST_F(KafkaSinkTest, UnreachableBrokerSpoolsEveryRecord) {
  auto sink = KafkaSink::open(config_, 2);
  EXPECT_EQ(sink->name(), "kafka");
  EXPECT_TRUE(sink->ready());
  for (int i = 0; i < 50; ++i) {
    sink->emit(static_cast<std::size_t>(i % 2), Record{"acme", "ev-" + std::to_string(i), "{\"i\":" + std::to_string(i) + "}"});
  }
  ASSERT_TRUE(eventually([&] { return sink->stats().spooled == 50; })) << sink->stats().spooled;
  EXPECT_GT(sink->stats().spool_bytes, 0u);
  EXPECT_TRUE(sink->ready());
  sink->close();
  const SinkStats s = sink->stats();
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(s.dropped, 0u);

  SpoolOptions o;
  o.dir = config_.kafka_spool_dir;
  Spool spool(o);
  std::size_t n = 0;
  while (auto rec = spool.next()) {
    EXPECT_EQ(rec->record.key, "acme");
    ++n;
  }
  EXPECT_EQ(n, 50u);
}

TEST_F(KafkaSinkTest, FullSpoolDropsAndIsNotReady) {
  config_.kafka_spool_max_bytes = 2048;
  auto sink = KafkaSink::open(config_, 1);
  for (int i = 0; i < 200; ++i) sink->emit(0, Record{"acme", "ev-" + std::to_string(i), std::string(100, 'x')});
  ASSERT_TRUE(eventually([&] {
    const auto s = sink->stats();
    return s.spooled + s.dropped == 200;
  }));
  const SinkStats s = sink->stats();
  EXPECT_GT(s.spooled, 0u);
  EXPECT_GT(s.dropped, 0u);
  EXPECT_LE(s.spool_bytes, 2048u);
  EXPECT_FALSE(sink->ready());
  sink->close();
}

}  // namespace
}  // namespace tollgate::usage
