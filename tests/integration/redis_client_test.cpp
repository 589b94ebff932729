// The hiredis/Asio client against a real redis-server: commands, pipelining, deadlines,
// reconnects, NOSCRIPT and READONLY handling, AUTH/SELECT.
#include "tollgate/redis/client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "io_driver.hpp"
#include "redis_server.hpp"

namespace tollgate::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using tollgate::testing::RedisServer;
using tollgate::testing::RedisServerOptions;
using Steady = std::chrono::steady_clock;

using tollgate::testing::run;
using tollgate::testing::run_until;

ClientOptions options_for(const RedisServer& server, int db = 0) {
  ClientOptions options;
  auto address = parse_redis_url(server.url(db));
  if (!address) throw std::runtime_error(address.error().message);
  options.address = *address;
  return options;
}

class RedisClientTest : public ::testing::Test {
 protected:
  // Starts `client` and waits until it is ready.
  void start(Client& client) {
    client.start();
    ASSERT_TRUE(run_until(io, [&] { return client.ready(); }, 5s)) << "client never became ready";
  }
  Result<Reply> call(Client& client, std::vector<std::string> args) {
    return run(io, client.command(std::move(args)));
  }

  asio::io_context io;
};

TEST_F(RedisClientTest, Commands) {
  RedisServer server;
  Client client(io.get_executor(), options_for(server));
  start(client);

  auto set = call(client, {"SET", "k", std::string("a\0b", 3)});
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_EQ(set->type, Reply::Type::status);
  EXPECT_EQ(set->text, "OK");

  auto get = call(client, {"GET", "k"});
  ASSERT_TRUE(get);
  EXPECT_EQ(get->text, std::string("a\0b", 3));

  EXPECT_TRUE(call(client, {"GET", "missing"})->is_nil());
  EXPECT_EQ(call(client, {"INCRBY", "n", "41"})->integer, 41);

  call(client, {"RPUSH", "list", "x", "y"});
  auto range = call(client, {"LRANGE", "list", "0", "-1"});
  ASSERT_TRUE(range);
  ASSERT_EQ(range->elements.size(), 2u);
  EXPECT_EQ(range->elements[1].text, "y");

  // A Redis error reply is an ordinary reply for the caller to judge.
  auto wrong = call(client, {"INCR", "list"});
  ASSERT_TRUE(wrong);
  EXPECT_TRUE(wrong->is_error());
  EXPECT_TRUE(wrong->has_error_code("WRONGTYPE"));
  EXPECT_TRUE(client.ready());
}

asio::awaitable<void> incr_once(Client& client, std::string key, int& ok, int& done) {
  std::vector<std::string> args{"INCR", std::move(key)};
  auto r = co_await client.command(std::move(args));
  if (r && r->type == Reply::Type::integer) ++ok;
  ++done;
}

TEST_F(RedisClientTest, ManyCommandsInFlightArePipelined) {
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 2s;  // this test is about pipelining, not deadlines (ASan, shared cores)
  Client client(io.get_executor(), options);
  start(client);

  constexpr int kCommands = 2000;
  int ok = 0;
  int done = 0;
  for (int i = 0; i < kCommands; ++i) asio::co_spawn(io, incr_once(client, "counter", ok, done), asio::detached);
  ASSERT_TRUE(run_until(io, [&] { return done == kCommands; }, 20s));
  EXPECT_EQ(ok, kCommands);
  EXPECT_EQ(server.command({"GET", "counter"}).text, std::to_string(kCommands));
  EXPECT_EQ(client.stats().timeouts, 0u);
}

TEST_F(RedisClientTest, DeadlineWhenTheServerIsStopped) {
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 50ms;
  Client client(io.get_executor(), options);
  start(client);

  server.pause();
  const auto began = Steady::now();
  auto r = call(client, {"PING"});
  const auto took = Steady::now() - began;
  server.resume();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Error::limits_unavailable);
  EXPECT_NE(r.error().message.find("did not answer within 50 ms"), std::string::npos) << r.error().message;
  EXPECT_GE(took, 50ms);
  EXPECT_LT(took, 1s);
  EXPECT_EQ(client.stats().timeouts, 1u);

  // The server answers again; the late PONG went to the abandoned command, not to this one.
  bool answered = false;
  ASSERT_TRUE(run_until(io, [&] {
    if (!client.ready()) return false;
    auto echo = run(io, client.command({"ECHO", "after"}));
    answered = echo && echo->text == "after";
    return answered;
  }, 5s));
}

TEST_F(RedisClientTest, LateRepliesAreDroppedAndLaterRepliesStayMatched) {
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 50ms;
  options.max_timeouts_in_row = 1000;  // keep this connection: the late reply must arrive on it
  Client client(io.get_executor(), options);
  start(client);

  auto sleep = call(client, {"DEBUG", "SLEEP", "0.3"});
  ASSERT_FALSE(sleep);
  EXPECT_NE(sleep.error().message.find("did not answer"), std::string::npos);

  // Every reply that arrives belongs to its own command, whichever timed out before it.
  int matched = 0;
  int i = 0;
  ASSERT_TRUE(run_until(io, [&] {
    const std::string payload = std::to_string(i++) + "-echo";
    auto echo = run(io, client.command({"ECHO", payload}));
    if (echo) {
      EXPECT_EQ(echo->text, payload);
      ++matched;
    }
    return matched >= 3;
  }, 5s));
  EXPECT_EQ(client.stats().disconnects, 0u);
  EXPECT_GE(client.stats().timeouts, 1u);
}

TEST_F(RedisClientTest, TooManyTimeoutsInARowReplaceTheConnection) {
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 30ms;
  options.max_timeouts_in_row = 3;
  Client client(io.get_executor(), options);
  start(client);

  server.pause();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(call(client, {"PING"}));
  EXPECT_FALSE(client.ready());
  // While stopped, a new connection completes its TCP handshake but never answers PING.
  EXPECT_FALSE(run_until(io, [&] { return client.ready(); }, 300ms));
  server.resume();
  ASSERT_TRUE(run_until(io, [&] { return client.ready(); }, 5s));
  EXPECT_TRUE(call(client, {"PING"}));
  EXPECT_GE(client.stats().disconnects, 1u);
}

TEST_F(RedisClientTest, ReconnectsAfterTheServerIsKilledAndRestarted) {
  RedisServer server;
  Client client(io.get_executor(), options_for(server));
  start(client);
  ASSERT_TRUE(call(client, {"SET", "a", "1"}));

  server.kill();
  ASSERT_TRUE(run_until(io, [&] { return !client.ready(); }, 2s));
  auto down = call(client, {"PING"});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, Error::limits_unavailable);
  // Let a few reconnect attempts fail so the backoff has grown.
  run_until(io, [] { return false; }, 300ms);
  EXPECT_GE(client.stats().connect_failures, 1u);

  server.restart();
  const auto restarted = Steady::now();
  ASSERT_TRUE(run_until(io, [&] { return client.ready(); }, 5s));
  EXPECT_LT(Steady::now() - restarted, 5s);
  auto up = call(client, {"PING"});
  ASSERT_TRUE(up) << up.error().message;
  EXPECT_EQ(up->text, "PONG");
  EXPECT_EQ(client.stats().connects, 2u);
}

asio::awaitable<void> eval_once(Client& client, Script script, std::string arg, int& ok, int& done) {
  std::vector<std::string> args{arg};
  auto r = co_await client.eval(script, {}, std::move(args));
  if (r && r->text == arg) ++ok;
  ++done;
}

TEST_F(RedisClientTest, ScriptsAreLoadedOnConnectAndReloadedAfterScriptFlush) {
  RedisServer server;
  const Script echo = Script::make("echo", "return ARGV[1]");
  auto options = options_for(server);
  options.scripts = {echo};
  options.timeout = 2s;
  Client client(io.get_executor(), options);
  start(client);

  const auto exists = server.command({"SCRIPT", "EXISTS", echo.sha1});
  ASSERT_EQ(exists.elements.size(), 1u);
  EXPECT_EQ(exists.elements[0].integer, 1);

  auto first = run(io, client.eval(echo, {}, {"a"}));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->text, "a");

  // SCRIPT FLUSH under load: every call still succeeds (NOSCRIPT -> SCRIPT LOAD + retry).
  server.command({"SCRIPT", "FLUSH"});
  constexpr int kCalls = 200;
  int ok = 0;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    asio::co_spawn(io, eval_once(client, echo, std::to_string(i), ok, done), asio::detached);
  }
  ASSERT_TRUE(run_until(io, [&] { return done == kCalls; }, 20s));
  EXPECT_EQ(ok, kCalls);
  EXPECT_GE(client.stats().noscript_reloads, 1u);
}

TEST_F(RedisClientTest, ScriptsSurviveARestart) {
  RedisServer server;
  const Script add = Script::make("add", "return redis.call('INCRBY', KEYS[1], ARGV[1])");
  auto options = options_for(server);
  options.scripts = {add};
  Client client(io.get_executor(), options);
  start(client);
  ASSERT_EQ(run(io, client.eval(add, {"n"}, {"2"}))->integer, 2);

  server.restart();  // a fresh server: no scripts, no data
  ASSERT_TRUE(run_until(io, [&] {
    auto r = run(io, client.eval(add, {"n"}, {"5"}));
    return r && r->integer == 5;
  }, 5s));
}

TEST_F(RedisClientTest, ReadonlyReplyIsAnOutageAndReconnects) {
  RedisServer master;
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 1s;
  Client client(io.get_executor(), options);
  start(client);
  ASSERT_TRUE(call(client, {"SET", "k", "1"}));

  // A failover turned our server into a replica: writes answer READONLY.
  server.command({"REPLICAOF", "127.0.0.1", std::to_string(master.port())});
  auto refused = call(client, {"SET", "k", "2"});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Error::limits_unavailable);
  EXPECT_NE(refused.error().message.find("read-only"), std::string::npos) << refused.error().message;
  EXPECT_EQ(client.stats().readonly_errors, 1u);
  EXPECT_FALSE(client.ready());
  // The connection is replaced, but a replica is not a usable server: not ready (/readyz).
  ASSERT_TRUE(run_until(io, [&] { return client.stats().connect_failures >= 2; }, 5s));
  EXPECT_FALSE(client.ready());
  auto not_ready = call(client, {"GET", "k"});
  ASSERT_FALSE(not_ready);
  EXPECT_NE(not_ready.error().message.find("not a master"), std::string::npos) << not_ready.error().message;

  server.command({"REPLICAOF", "NO", "ONE"});
  ASSERT_TRUE(run_until(io, [&] {
    auto r = call(client, {"SET", "k", "3"});
    return r && r->text == "OK";
  }, 5s));
}

TEST_F(RedisClientTest, AuthenticatesAndSelectsTheDatabase) {
  RedisServerOptions server_options;
  server_options.password = "Corr3ct-Horse";
  RedisServer server(server_options);
  Client client(io.get_executor(), options_for(server, 5));
  start(client);
  ASSERT_TRUE(call(client, {"SET", "in-db-5", "yes"}));
  EXPECT_EQ(server.command({"GET", "in-db-5"}, 5).text, "yes");
  EXPECT_TRUE(server.command({"GET", "in-db-5"}, 0).is_nil());
}

TEST_F(RedisClientTest, WrongPasswordNeverBecomesReadyAndIsNeverShown) {
  RedisServerOptions server_options;
  server_options.password = "Corr3ct-Horse";
  RedisServer server(server_options);
  auto options = options_for(server);
  options.address.password = "Wr0ng-Battery";
  Client client(io.get_executor(), options);
  client.start();
  ASSERT_TRUE(run_until(io, [&] { return client.stats().connect_failures >= 1; }, 5s));
  EXPECT_FALSE(client.ready());
  auto r = call(client, {"PING"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("AUTH failed"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("Wr0ng-Battery"), std::string::npos);
  EXPECT_EQ(r.error().message.find("Corr3ct-Horse"), std::string::npos);
}

TEST_F(RedisClientTest, NotReadyWhenNothingListens) {
  std::uint16_t port = 0;
  {
    RedisServer server;
    port = server.port();
  }
  ClientOptions options;
  options.address.port = port;
  Client client(io.get_executor(), options);
  client.start();
  ASSERT_TRUE(run_until(io, [&] { return client.stats().connect_failures >= 2; }, 5s));
  EXPECT_FALSE(client.ready());
  const auto began = Steady::now();
  auto r = call(client, {"PING"});
  EXPECT_FALSE(r);
  EXPECT_LT(Steady::now() - began, 50ms);  // fails at once, no waiting for a deadline
}

asio::awaitable<void> ping_into(Client& client, std::optional<Result<Reply>>& out) {
  std::vector<std::string> args{"PING"};
  out = co_await client.command(std::move(args));
}

TEST_F(RedisClientTest, StopFailsInFlightCommandsAndLaterOnes) {
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 5s;
  Client client(io.get_executor(), options);
  start(client);

  server.pause();
  std::optional<Result<Reply>> in_flight;
  asio::co_spawn(io, ping_into(client, in_flight), asio::detached);
  run_until(io, [] { return false; }, 20ms);
  client.stop();
  ASSERT_TRUE(run_until(io, [&] { return in_flight.has_value(); }, 1s));
  EXPECT_FALSE(*in_flight);
  server.resume();
  EXPECT_FALSE(client.ready());
  auto later = call(client, {"PING"});
  ASSERT_FALSE(later);
  EXPECT_NE(later.error().message.find("closed"), std::string::npos);
}

TEST_F(RedisClientTest, DestroyingTheClientWithCommandsInFlightIsSafe) {
  RedisServer server;
  auto options = options_for(server);
  options.timeout = 5s;
  auto client = std::make_unique<Client>(io.get_executor(), options);
  start(*client);
  server.pause();
  std::optional<Result<Reply>> in_flight;
  asio::co_spawn(io, ping_into(*client, in_flight), asio::detached);
  run_until(io, [] { return false; }, 20ms);
  client.reset();
  ASSERT_TRUE(run_until(io, [&] { return in_flight.has_value(); }, 1s));
  EXPECT_FALSE(*in_flight);
  server.resume();
}

}  // namespace
}  // namespace tollgate::redis
