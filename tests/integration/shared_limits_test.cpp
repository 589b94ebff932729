// Integration: two real gateway processes sharing one real redis-server (limits.store: redis),
// driven over loopback sockets against the real mock upstream. Proves SPEC section 5 across
// instances: exact admission, no overspend (plain and streaming), lease expiry after a
// SIGKILL, on_store_error while Redis is down and recovery after it returns, and SCRIPT FLUSH
// under load.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <mutex>
#include <regex>
#include <thread>

#include "harness/gateway_world.hpp"
#include "harness/http_client.hpp"
#include "redis_server.hpp"

namespace tollgate::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using asio::ip::tcp;
using Headers = std::vector<std::pair<std::string, std::string>>;

// Two gateways on one redis-server, tenants from `plans_and_tenants` (each {KEY} replaced by a
// fresh key's entry), sharing one mock upstream. By default a store error refuses (503) rather
// than falling back to per-instance buckets, so a slow Redis (sanitizer builds) cannot pass for
// a wrong count; the deadline is generous for the same reason.
class SharedWorld {
 public:
  explicit SharedWorld(const std::string& plans_and_tenants, int reservation_ttl_s = 600,
                       const std::string& on_store_error = "{rate_limits: closed, budgets: closed}") {
    const std::string mock = "http://127.0.0.1:" + std::to_string(mock_.port()) + "/v1";
    dir_.write("tollgate.yaml",
               "listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\nthreads: 2\n"
               "limits:\n  store: redis\n  redis: {url: \"" + redis_.url() + "\", timeout_ms: 2000}\n"
               "  reservation_ttl_s: " + std::to_string(reservation_ttl_s) + "\n"
               "  on_store_error: " + on_store_error + "\n"
               "providers:\n  mock: {base_url: \"" + mock + "\"}\n"
               "models:\n  mock-chat: {provider: mock, input_usd_per_mtok: 2.50, output_usd_per_mtok: 10.00}\n"
               "tenants: tenants.yaml\n");
    std::string tenants;
    std::size_t from = 0;
    for (auto at = plans_and_tenants.find("{KEY}"); at != std::string::npos;
         from = at + 5, at = plans_and_tenants.find("{KEY}", from)) {
      keys_.push_back(make_key());
      tenants += plans_and_tenants.substr(from, at - from);
      std::string name = std::to_string(keys_.size());
      name.insert(name.begin(), 'k');  // not "k" + ...: GCC 12 -O3 reports a false -Wrestrict
      tenants += keys_.back().yaml_entry(name);
    }
    tenants += plans_and_tenants.substr(from);
    dir_.write("tenants.yaml", tenants);
    a_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml");
    b_ = std::make_unique<GatewayProcess>(dir_.path() / "tollgate.yaml");
  }

  Headers auth(std::size_t key = 0) const { return {{"authorization", "Bearer " + keys_.at(key).key}}; }
  GatewayProcess& a() { return *a_; }
  GatewayProcess& b() { return *b_; }
  void drop_a() { a_.reset(); }
  RedisServer& redis() { return redis_; }

  // cost_nano_usd of every access-log line with status 200 in both gateways' output so far.
  std::int64_t billed(std::size_t* count = nullptr) {
    std::int64_t total = 0;
    std::size_t n = 0;
    for (auto* g : {a_.get(), b_.get()}) {
      if (g == nullptr) continue;
      std::istringstream lines(g->process().output());
      std::string line;
      while (std::getline(lines, line)) {
        if (line.find("\"msg\":\"request\"") == std::string::npos) continue;
        const auto record = json::parse(line).as_object();
        if (record.at("status").as_string() != "200") continue;
        total += std::stoll(std::string(record.at("cost_nano_usd").as_string()));
        ++n;
      }
    }
    if (count != nullptr) *count = n;
    return total;
  }

 private:
  RedisServer redis_;
  TempDir dir_;
  MockUpstream mock_;
  std::vector<TestKey> keys_;
  std::unique_ptr<GatewayProcess> a_;
  std::unique_ptr<GatewayProcess> b_;
};

std::string chat_body(const std::string& extra) {
  return R"({"model":"mock-chat","messages":[{"role":"user","content":"Hello there"}])" + extra + "}";
}

// Sends `count` requests at once, each on its own connection, alternating between `ports`;
// returns how many got each status. Bounded: gives up after `deadline`.
std::map<unsigned, int> fire_at_once(const std::vector<std::uint16_t>& ports, int count, const std::string& body,
                                     const Headers& headers, std::chrono::seconds deadline = std::chrono::seconds(60)) {
  asio::io_context io;
  std::map<unsigned, int> statuses;
  auto one = [&](std::uint16_t port) -> asio::awaitable<void> {
    unsigned status = 0;
    try {
      tcp::socket socket(io);
      co_await socket.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), asio::use_awaitable);
      beast::http::request<beast::http::string_body> request{beast::http::verb::post, "/v1/chat/completions", 11};
      request.set(beast::http::field::host, "127.0.0.1");
      request.set(beast::http::field::content_type, "application/json");
      for (const auto& [name, value] : headers) request.set(name, value);
      request.body() = body;
      request.prepare_payload();
      co_await beast::http::async_write(socket, request, asio::use_awaitable);
      beast::flat_buffer buffer;
      beast::http::response<beast::http::string_body> response;
      co_await beast::http::async_read(socket, buffer, response, asio::use_awaitable);
      status = response.result_int();
    } catch (const std::exception&) {
      status = 0;  // a connection error: counted under 0
    }
    ++statuses[status];
  };
  for (int i = 0; i < count; ++i) asio::co_spawn(io, one(ports[i % ports.size()]), asio::detached);
  io.run_for(deadline);
  return statuses;
}

TEST(SharedLimits, ExactAdmissionAcrossTwoGateways) {
  SharedWorld world("plans:\n  p: {requests_per_day: 100}\ntenants:\n  acme:\n    plan: p\n    keys:\n{KEY}");
  const auto statuses = fire_at_once({world.a().port(), world.b().port()}, 2000, chat_body(R"(,"max_tokens":1)"),
                                     world.auth());
  EXPECT_EQ(statuses.count(200) ? statuses.at(200) : 0, 100);
  EXPECT_EQ(statuses.count(429) ? statuses.at(429) : 0, 1900);
  EXPECT_EQ(statuses.size(), 2u) << "no other status, no connection error";
}

// 10 clients x 20 requests, each client alternating gateways, against a budget that fits about
// 20 worst cases. The mock answers with exactly max_tokens, so actual cost is ~97% of the worst
// case and the gateways should use almost all of the budget without ever passing it.
void no_overspend(bool stream) {
  constexpr std::int64_t kBudget = 20'900'000;  // $0.0209
  SharedWorld world("plans:\n  p: {budget_usd: {daily: 0.0209}}\ntenants:\n  acme:\n    plan: p\n    keys:\n{KEY}");
  const std::string body = chat_body(std::string(stream ? R"(,"stream":true)" : "") +
                                     R"(,"max_tokens":100,"mock":{"completion_tokens":100,"chunk_delay_ms":1})");
  std::atomic<int> admitted = 0;
  std::atomic<int> refused = 0;
  std::atomic<int> other = 0;
  std::mutex seen_mutex;
  std::string seen;  // bodies of unexpected answers
  std::vector<std::thread> clients;
  for (int c = 0; c < 10; ++c) {
    clients.emplace_back([&, c] {
      HttpConnection to_a(world.a().port());
      HttpConnection to_b(world.b().port());
      for (int i = 0; i < 20; ++i) {
        auto& conn = (c + i) % 2 == 0 ? to_a : to_b;
        const auto r = conn.request("POST", "/v1/chat/completions", body, world.auth());
        if (r.status == 200) {
          ++admitted;
        } else if (r.status == 402) {
          ++refused;
        } else {
          ++other;
          std::lock_guard lock(seen_mutex);
          seen += std::to_string(r.status) + " " + r.body.substr(0, 300) + "\n";
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0) << seen;
  EXPECT_EQ(admitted + refused, 200);
  // Every admitted request is billed once it settles; wait for the access log lines.
  std::size_t lines = 0;
  std::int64_t spent = 0;
  for (int i = 0; i < 100; ++i) {
    spent = world.billed(&lines);
    if (lines == static_cast<std::size_t>(admitted.load())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(lines, static_cast<std::size_t>(admitted.load()));
  EXPECT_LE(spent, kBudget) << "overspend";
  EXPECT_GE(spent, kBudget * 9 / 10) << "too conservative: " << admitted << " admitted";
  // Redis agrees: committed spend of the day window is what was billed.
  for (int i = 0; i < 100; ++i) {
    std::int64_t in_redis = 0;
    for (const auto& key : world.redis().keys()) {
      if (key.find(":day:") == std::string::npos) continue;
      if (const auto field = world.redis().command({"HGET", key, "spent"}).as_integer()) in_redis += *field;
    }
    if (in_redis == spent || i == 99) {
      EXPECT_EQ(in_redis, spent);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(SharedLimits, NoOverspendAcrossTwoGateways) { no_overspend(false); }

TEST(SharedLimits, UsageEndpointSumsBothGatewaysAndShowsOnlyTheCallersTenant) {
  SharedWorld world("plans:\n  p: {budget_usd: {monthly: 5}}\n"
                    "tenants:\n  acme:\n    plan: p\n    keys:\n{KEY}  globex:\n    plan: p\n    keys:\n{KEY}");
  for (auto* g : {&world.a(), &world.b(), &world.a()}) {
    ASSERT_EQ(http_request(g->port(), "POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":2)"), world.auth(0))
                  .status,
              200u);
  }
  json::object usage;
  for (int i = 0; i < 50; ++i) {  // settles are off the request path
    usage = json::parse(http_request(world.b().port(), "GET", "/v1/usage", {}, world.auth(0)).body).as_object();
    if (usage.at("daily").at("output_tokens").as_int64() == 6) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(usage.at("tenant").as_string(), "acme");
  EXPECT_EQ(usage.at("daily").at("requests").as_int64(), 3);
  EXPECT_EQ(usage.at("monthly").at("output_tokens").as_int64(), 6);
  EXPECT_DOUBLE_EQ(usage.at("monthly").at("limit_usd").to_number<double>(), 5.0);
  EXPECT_TRUE(usage.at("daily").at("limit_usd").is_null());
  const auto other = json::parse(http_request(world.a().port(), "GET", "/v1/usage", {}, world.auth(1)).body).as_object();
  EXPECT_EQ(other.at("tenant").as_string(), "globex");
  EXPECT_EQ(other.at("daily").at("requests").as_int64(), 0);

  world.redis().kill();
  EXPECT_EQ(http_request(world.a().port(), "GET", "/v1/usage", {}, world.auth(0)).status, 503u);
}
TEST(SharedLimits, NoOverspendAcrossTwoGatewaysWithStreams) { no_overspend(true); }

TEST(SharedLimits, AKilledGatewaysConcurrencySlotsExpireWithTheirLease) {
  SharedWorld world("plans:\n  p: {max_concurrent: 3}\ntenants:\n  acme:\n    plan: p\n    keys:\n{KEY}",
                    /*reservation_ttl_s=*/2);
  const std::string slow = chat_body(R"(,"stream":true,"max_tokens":100,"mock":{"chunk_delay_ms":200})");
  std::vector<std::unique_ptr<StreamingResponse>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(std::make_unique<StreamingResponse>(world.a().port(), "/v1/chat/completions", slow, world.auth()));
    ASSERT_EQ(streams.back()->status(), 200u);
  }
  EXPECT_EQ(http_request(world.b().port(), "POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":1)"),
                         world.auth()).status,
            429u);
  world.a().process().stop(SIGKILL, std::chrono::seconds(5));
  const auto killed_at = std::chrono::steady_clock::now();
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(8)) {
    status = http_request(world.b().port(), "POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":1)"),
                          world.auth()).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200u) << "the leases of the killed gateway never expired";
  streams.clear();
  world.drop_a();
}

TEST(SharedLimits, RedisDownFollowsOnStoreErrorAndRecoversWithoutARestart) {
  SharedWorld world(
      "plans:\n  budgeted: {budget_usd: {daily: 10}}\n  limited: {requests_per_minute: 1000}\n"
      "tenants:\n  rich:\n    plan: budgeted\n    keys:\n{KEY}  quick:\n    plan: limited\n    keys:\n{KEY}",
      600, "{rate_limits: local, budgets: closed}");
  const auto ask = [&](std::size_t key) {
    return http_request(world.a().port(), "POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":1)"),
                        world.auth(key));
  };
  ASSERT_EQ(ask(0).status, 200u);
  ASSERT_EQ(ask(1).status, 200u);
  const auto ready = [&] { return http_request(world.a().admin_port(), "GET", "/readyz").status; };
  EXPECT_EQ(ready(), 200u);

  world.redis().kill();
  // Budgets fail closed (503 limits_unavailable); rate limits fall back to local buckets.
  const auto closed = ask(0);
  EXPECT_EQ(closed.status, 503u) << closed.body;
  EXPECT_NE(closed.body.find("limits_unavailable"), std::string::npos);
  EXPECT_EQ(ask(1).status, 200u);
  EXPECT_EQ(ready(), 503u);
  // Each decision is counted.
  const std::string page = http_request(world.a().admin_port(), "GET", "/metrics").body;
  EXPECT_NE(page.find("tollgate_limits_store_errors_total{decision=\"budgets_closed\"} 1\n"), std::string::npos)
      << page;
  EXPECT_NE(page.find("tollgate_limits_store_errors_total{decision=\"rate_limits_local\"} 1\n"), std::string::npos)
      << page;

  world.redis().restart();
  const auto back = std::chrono::steady_clock::now();
  unsigned status = 0;
  while (status != 200 && std::chrono::steady_clock::now() - back < std::chrono::seconds(5)) {
    status = ask(0).status;
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(status, 200u) << "not recovered within 5 s of Redis coming back";
  EXPECT_EQ(ready(), 200u);
}

TEST(SharedLimits, ScriptFlushUnderLoadFailsNoRequest) {
  SharedWorld world("plans:\n  p: {requests_per_minute: 100000, budget_usd: {daily: 100}}\n"
                    "tenants:\n  acme:\n    plan: p\n    keys:\n{KEY}");
  std::atomic<bool> done = false;
  std::thread flusher([&] {
    while (!done) {
      world.redis().command({"SCRIPT", "FLUSH"});
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::map<unsigned, int> statuses;
  {
    HttpConnection to_a(world.a().port());
    HttpConnection to_b(world.b().port());
    for (int i = 0; i < 200; ++i) {
      ++statuses[(i % 2 == 0 ? to_a : to_b)
                     .request("POST", "/v1/chat/completions", chat_body(R"(,"max_tokens":1)"), world.auth())
                     .status];
    }
  }
  done = true;
  flusher.join();
  EXPECT_EQ(statuses[200], 200) << "statuses seen: " << statuses.size();
}

}  // namespace
}  // namespace tollgate::testing
