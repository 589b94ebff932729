#include "kafka_cluster.hpp"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

namespace tollgate::testing {
namespace {

using SteadyClock = std::chrono::steady_clock;

void set_or_throw(rd_kafka_conf_t* conf, const char* name, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, name, value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("MockKafkaCluster: ") + errstr);
  }
}

struct ConsumerDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};

}  // namespace

MockKafkaCluster::MockKafkaCluster(int brokers) : brokers_(brokers) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set_or_throw(conf, "log_level", "3");
  handle_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (handle_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("MockKafkaCluster: rd_kafka_new: ") + errstr);
  }
  cluster_ = rd_kafka_mock_cluster_new(handle_, brokers);
  if (cluster_ == nullptr) {
    rd_kafka_destroy(handle_);
    throw std::runtime_error("MockKafkaCluster: rd_kafka_mock_cluster_new failed");
  }
}

MockKafkaCluster::~MockKafkaCluster() {
  rd_kafka_mock_cluster_destroy(cluster_);
  rd_kafka_destroy(handle_);
}

std::string MockKafkaCluster::bootstrap_servers() const { return rd_kafka_mock_cluster_bootstraps(cluster_); }

void MockKafkaCluster::create_topic(const std::string& topic, int partitions) {
  const rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, std::min(brokers_, 3));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw std::runtime_error(std::string("MockKafkaCluster: create_topic: ") + rd_kafka_err2str(err));
  }
}

void MockKafkaCluster::set_state(int broker_id, bool up) {
  for (int id = 1; id <= brokers_; ++id) {
    if (broker_id != 0 && id != broker_id) continue;
    const rd_kafka_resp_err_t err =
        up ? rd_kafka_mock_broker_set_up(cluster_, id) : rd_kafka_mock_broker_set_down(cluster_, id);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw std::runtime_error(std::string("MockKafkaCluster: broker state: ") + rd_kafka_err2str(err));
    }
  }
}

void MockKafkaCluster::set_down(int broker_id) { set_state(broker_id, false); }
void MockKafkaCluster::set_up(int broker_id) { set_state(broker_id, true); }

void MockKafkaCluster::push_request_errors(std::int16_t api_key, const std::vector<int>& errors) {
  std::vector<rd_kafka_resp_err_t> codes;
  for (int e : errors) codes.push_back(static_cast<rd_kafka_resp_err_t>(e));
  rd_kafka_mock_push_request_errors_array(cluster_, api_key, codes.size(), codes.data());
}

std::vector<KafkaMessage> MockKafkaCluster::consume_all(const std::string& topic, std::size_t expected_count,
                                                        std::chrono::milliseconds timeout) const {
  static std::atomic<int> group_seq{0};
  const auto deadline = SteadyClock::now() + timeout;
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  set_or_throw(conf, "bootstrap.servers", bootstrap_servers());
  set_or_throw(conf, "group.id", "tollgate-test-" + std::to_string(group_seq.fetch_add(1)));
  set_or_throw(conf, "enable.auto.commit", "false");
  set_or_throw(conf, "auto.offset.reset", "earliest");
  set_or_throw(conf, "log_level", "3");
  std::unique_ptr<rd_kafka_t, ConsumerDeleter> rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("MockKafkaCluster: consumer: ") + errstr);
  }

  // How many partitions the topic has (it may not exist yet: retry until the deadline).
  int partitions = 0;
  while (partitions == 0) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk.get(), topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(rk.get(), 0, rkt, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        partitions = md->topics[0].partition_cnt;
      }
      rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    if (partitions == 0 && SteadyClock::now() > deadline) return {};
  }
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  rd_kafka_assign(rk.get(), parts);
  rd_kafka_topic_partition_list_destroy(parts);

  std::vector<KafkaMessage> out;
  constexpr auto kQuiet = std::chrono::milliseconds(500);
  auto last_message = SteadyClock::now();
  for (;;) {
    const auto now = SteadyClock::now();
    if (now > deadline) break;
    if (out.size() >= expected_count && now - last_message > kQuiet) break;
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk.get(), 100);
    if (msg == nullptr) continue;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      KafkaMessage m;
      if (msg->key != nullptr) m.key.assign(static_cast<const char*>(msg->key), msg->key_len);
      if (msg->payload != nullptr) m.value.assign(static_cast<const char*>(msg->payload), msg->len);
      m.partition = msg->partition;
      m.offset = msg->offset;
      out.push_back(std::move(m));
      last_message = SteadyClock::now();
    }
    rd_kafka_message_destroy(msg);
  }
  return out;
}

}  // namespace tollgate::testing
