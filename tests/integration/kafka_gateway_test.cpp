// Integration: the real gateway with `usage.sink: kafka` against librdkafka's mock cluster
// (brokers on loopback, hosted by this test process), over real sockets with the real mock
// upstream: events consumed back match the requests one to one, and events spooled while the
// broker is down survive a SIGKILL of the gateway and are delivered by its successor.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <set>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"
#include "kafka_cluster.hpp"

namespace tollgate::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* kTopic = "llm.usage";

class KafkaWorld {
 public:
  KafkaWorld() {
    cluster_.create_topic(kTopic, 4);
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_.port()) + "/v1";
    dir_.write("tollgate.yaml",
               "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
               "limits: {local: {state_dir: state}}\n"
               "usage:\n  sink: kafka\n"
               "  kafka: {brokers: \"" + cluster_.bootstrap_servers() + "\", topic: " + kTopic +
                   ", spool_dir: spool, delivery_timeout_ms: 1000}\n"
               "providers:\n  mock: {base_url: \"" + mock + "\"}\n"
               "models:\n  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
               "tenants: tenants.yaml\n");
    dir_.write("tenants.yaml", "plans:\n  p: {}\ntenants:\n  acme:\n    plan: p\n    keys:\n" + acme_.yaml_entry("k") +
                                   "  globex:\n    plan: p\n    keys:\n" + globex_.yaml_entry("k"));
  }

  void start() { gateway_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml"); }
  GatewayProcess& gateway() { return *gateway_; }
  MockKafkaCluster& cluster() { return cluster_; }
  std::uint64_t spool_bytes() const {
    std::uint64_t total = 0;
    if (!fs::exists(dir_.path() / "spool")) return 0;
    for (const auto& e : fs::directory_iterator(dir_.path() / "spool")) {
      if (e.path().extension() == ".spool") total += e.file_size();
    }
    return total;
  }

  // Sends one chat request for `tenant` (0 acme, 1 globex); returns its request id.
  std::string request(int tenant) {
    const auto& key = tenant == 0 ? acme_ : globex_;
    const auto r = http_request(gateway_->port(), "POST", "/v1/chat/completions",
                                R"({"model":"mock-chat","max_tokens":3,"messages":[{"role":"user","content":"hi"}]})",
                                {{"authorization", "Bearer " + key.key}});
    EXPECT_EQ(r.status, 200u) << r.body;
    return r.header("x-request-id");
  }

 private:
  MockKafkaCluster cluster_{3};
  TempDir dir_;
  MockUpstream mock_;
  TestKey acme_ = make_key();
  TestKey globex_ = make_key();
  std::unique_ptr<GatewayProcess> gateway_;
};

// request_id -> the event's object, for every usage event in `messages` (duplicates collapse).
std::map<std::string, json::object> usage_events(const std::vector<KafkaMessage>& messages) {
  std::map<std::string, json::object> out;
  for (const auto& m : messages) {
    auto e = json::parse(m.value).as_object();
    EXPECT_EQ(m.key, e.at("tenant").as_string()) << "the message key is the tenant";
    if (e.at("type").as_string() != "usage") continue;
    out[std::string(e.at("request_id").as_string())] = std::move(e);
  }
  return out;
}

TEST(KafkaGateway, EventsConsumedBackMatchTheRequestsOneToOne) {
  KafkaWorld world;
  world.start();
  std::map<std::string, std::string> tenant_of;
  for (int i = 0; i < 40; ++i) tenant_of[world.request(i % 2)] = i % 2 == 0 ? "acme" : "globex";
  const auto events = usage_events(world.cluster().consume_all(kTopic, 40));
  ASSERT_EQ(events.size(), 40u);
  for (const auto& [id, tenant] : tenant_of) {
    ASSERT_TRUE(events.contains(id)) << id;
    const auto& e = events.at(id);
    EXPECT_EQ(e.at("tenant").as_string(), tenant);
    EXPECT_EQ(e.at("outcome").as_string(), "completed");
    EXPECT_EQ(e.at("output_tokens").as_int64(), 3);
    EXPECT_EQ(e.at("cost_nano_usd").as_int64(),
              e.at("input_tokens").as_int64() * 2'500 + e.at("output_tokens").as_int64() * 10'000);
  }
  // The broker acknowledged all of them: /metrics says so.
  const std::string delivered = "tollgate_usage_events_total{sink=\"kafka\",result=\"delivered\"} 40\n";
  std::string page;
  for (int i = 0; i < 100 && page.find(delivered) == std::string::npos; ++i) {
    page = http_request(world.gateway().admin_port(), "GET", "/metrics").body;
    if (page.find(delivered) == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_NE(page.find(delivered), std::string::npos) << page;
  const auto status = world.gateway().process().stop(SIGTERM, std::chrono::seconds(15));
  EXPECT_EQ(status, 0) << world.gateway().process().output();
}

TEST(KafkaGateway, EventsSpooledWhileTheBrokerIsDownSurviveASigkill) {
  KafkaWorld world;
  world.start();
  world.cluster().set_down();
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) ids.insert(world.request(i % 2));
  // Unacknowledged for delivery_timeout_ms: spooled. Wait until the sink says all 20 are in the
  // spool (events still waiting for their acknowledgement would die with the process).
  const std::string all_spooled = "tollgate_usage_events_total{sink=\"kafka\",result=\"spooled\"} 20\n";
  std::string page;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (page.find(all_spooled) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    page = http_request(world.gateway().admin_port(), "GET", "/metrics").body;
    if (page.find(all_spooled) == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(page.find(all_spooled), std::string::npos) << page;
  EXPECT_GE(world.spool_bytes(), 20u * 300);
  EXPECT_EQ(page.find("tollgate_usage_spool_bytes 0\n"), std::string::npos) << page;
  world.gateway().process().stop(SIGKILL, std::chrono::seconds(5));

  world.cluster().set_up();
  world.start();  // a new process finds the spool and replays it
  const auto events = usage_events(world.cluster().consume_all(kTopic, 20));
  for (const auto& id : ids) EXPECT_TRUE(events.contains(id)) << "lost: " << id;
  EXPECT_EQ(world.gateway().process().stop(SIGTERM, std::chrono::seconds(15)), 0);
}

}  // namespace
}  // namespace tollgate::testing
