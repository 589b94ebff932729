// kafka_mock: librdkafka's in-process mock Kafka cluster as a standalone process, for benchmarks
// that need a broker on this machine without a Kafka installation. Prints
// "bootstrap 127.0.0.1:PORT,..." once the brokers listen, then runs until SIGTERM/SIGINT.
//
//   kafka_mock [--brokers N] [--topic NAME --partitions P]
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <unistd.h>

namespace {

volatile std::sig_atomic_t stop = 0;
void on_signal(int) { stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  int brokers = 1;
  std::string topic = "llm.usage";
  int partitions = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--brokers") {
      brokers = std::atoi(argv[i + 1]);
    } else if (flag == "--topic") {
      topic = argv[i + 1];
    } else if (flag == "--partitions") {
      partitions = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: kafka_mock [--brokers N] [--topic NAME] [--partitions P]\n");
      return 2;
    }
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_t* handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (handle == nullptr) {
    std::fprintf(stderr, "kafka_mock: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(handle, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka_mock: cannot start the mock cluster\n");
    rd_kafka_destroy(handle);
    return 1;
  }
  rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, brokers < 3 ? brokers : 3);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  while (stop == 0) pause();
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(handle);
  return 0;
}
