#pragma once
// Test support: librdkafka's in-process mock Kafka cluster (brokers listening on 127.0.0.1
// ephemeral ports) as the broker for KafkaSink and gateway tests, plus a real consumer to read
// a topic back. Blocking calls are fine here: tests only.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

struct rd_kafka_s;
struct rd_kafka_mock_cluster_s;

namespace tollgate::testing {

struct KafkaMessage {
  std::string key;
  std::string value;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};

class MockKafkaCluster {
 public:
  // Starts `brokers` mock brokers (ids 1..brokers). Throws std::runtime_error on failure.
  explicit MockKafkaCluster(int brokers = 1);
  ~MockKafkaCluster();
  MockKafkaCluster(const MockKafkaCluster&) = delete;
  MockKafkaCluster& operator=(const MockKafkaCluster&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers / usage.kafka_brokers.
  std::string bootstrap_servers() const;
  int broker_count() const { return brokers_; }

  // Creates `topic` with `partitions` partitions (replication: every broker, at most 3).
  // Topics the producer uses without creating them are auto-created by the mock.
  void create_topic(const std::string& topic, int partitions = 4);

  // Takes one broker (or, with broker_id 0, every broker) down: connections are closed and new
  // ones refused until set_up(). Throws std::runtime_error on an unknown id.
  void set_down(int broker_id = 0);
  void set_up(int broker_id = 0);

  // The next `errors.size()` requests with this Kafka API key (0 = Produce, 22 =
  // InitProducerId, ...) fail with these error codes (rd_kafka_resp_err_t values), in order.
  void push_request_errors(std::int16_t api_key, const std::vector<int>& errors);

  // Reads `topic` from the beginning with a fresh consumer until at least `expected_count`
  // messages arrived or `timeout` passed, then keeps reading until nothing more comes for a
  // short while (so duplicates already written are included). Returns what it read, in
  // partition/offset order per partition.
  std::vector<KafkaMessage> consume_all(const std::string& topic, std::size_t expected_count,
                                        std::chrono::milliseconds timeout = std::chrono::seconds(20)) const;

 private:
  void set_state(int broker_id, bool up);

  int brokers_;
  rd_kafka_s* handle_ = nullptr;               // owns the mock cluster
  rd_kafka_mock_cluster_s* cluster_ = nullptr;
};

}  // namespace tollgate::testing
