#include "tollgate/usage/event.hpp"

#include <regex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace tollgate::usage {
namespace {

using std::chrono::system_clock;

system_clock::time_point at(int h, int m, int s, int ms) {
  using namespace std::chrono;
  return sys_days{2026y / November / 22} + hours(h) + minutes(m) + seconds(s) + milliseconds(ms);
}

UsageEvent sample() {
  UsageEvent e;
  e.request_id = "req_1";
  e.tenant = "acme";
  e.key_name = "prod";
  e.key_prefix = "tg_a1b2c3d4";
  e.plan = "free";
  e.route = "/v1/chat/completions";
  e.provider = "openai";
  e.model_requested = "gpt-4o";
  e.model = "gpt-4o-mini";
  e.stream = true;
  e.status = 200;
  e.outcome = "completed";
  e.token_source = "provider";
  e.input_tokens = Tokens{812};
  e.output_tokens = Tokens{233};
  e.cost = NanoUsd{261'600};
  e.latency_ms = 1840;
  e.ttft_ms = 210;
  e.feature = "chat";
  e.end_user = "u-\"42\"";
  return e;
}

TEST(UsageEvent, TollgateFormatHasEverySpecFieldInOrder) {
  const Record r = to_record(sample(), config::EventFormat::tollgate, at(10, 0, 0, 123));
  EXPECT_EQ(r.key, "acme");
  EXPECT_EQ(r.payload,
            R"({"schema":1,"event_id":")" + r.event_id +
                R"(","type":"usage","ts":"2026-11-22T10:00:00.123Z","tenant":"acme","request_id":"req_1",)"
                R"("key":"prod","key_prefix":"tg_a1b2c3d4","plan":"free","route":"/v1/chat/completions",)"
                R"("provider":"openai","model_requested":"gpt-4o","model":"gpt-4o-mini","stream":true,"status":200,)"
                R"("outcome":"completed","input_tokens":812,"output_tokens":233,"token_source":"provider",)"
                R"("cost_nano_usd":261600,"latency_ms":1840,"ttft_ms":210,"feature":"chat","agent":null,)"
                R"("end_user":"u-\"42\""})");
  EXPECT_EQ(r.payload.find('\n'), std::string::npos);
}

TEST(UsageEvent, NoTokenMeansNullTtftAndLongHeadersAreCut) {
  UsageEvent e = sample();
  e.ttft_ms.reset();
  const std::string long_agent(500, 'a');
  e.agent = long_agent;
  const Record r = to_record(e, config::EventFormat::tollgate, at(0, 0, 0, 0));
  EXPECT_NE(r.payload.find(R"("ttft_ms":null)"), std::string::npos);
  EXPECT_NE(r.payload.find(R"("agent":")" + std::string(kMaxLabelBytes, 'a') + "\""), std::string::npos);
}

TEST(UsageEvent, CloudEventsEnvelopeWrapsTheSameEvent) {
  const Record plain = to_record(sample(), config::EventFormat::tollgate, at(10, 0, 0, 5));
  const Record ce = to_record(sample(), config::EventFormat::cloudevents, at(10, 0, 0, 5));
  const std::string prefix = R"({"specversion":"1.0","id":")" + ce.event_id + R"(","source":")" + instance_id() +
                             R"(","type":"tollgate.usage","subject":"acme","time":"2026-11-22T10:00:00.005Z",)"
                             R"("datacontenttype":"application/json","data":{"schema":1,"event_id":")" +
                             ce.event_id + "\"";
  EXPECT_EQ(ce.payload.substr(0, prefix.size()), prefix);
  EXPECT_EQ(ce.payload.back(), '}');
  // The data is the tollgate event (with its own id) and nothing else.
  std::string data = ce.payload.substr(ce.payload.find(R"("data":)") + 7);
  data.pop_back();
  std::string expected = plain.payload;
  expected.replace(expected.find(plain.event_id), plain.event_id.size(), ce.event_id);
  EXPECT_EQ(data, expected);
}

TEST(BudgetAlertEvent, ShapeAndCloudEventsType) {
  BudgetAlertEvent e{"acme", "daily", 0.8, NanoUsd{500'000'000}, NanoUsd{412'300'000},
                     std::chrono::sys_seconds{std::chrono::sys_days{std::chrono::year{2026} / 11 / 23}}};
  const Record r = to_record(e, config::EventFormat::tollgate, at(9, 1, 2, 3));
  EXPECT_EQ(r.payload, R"({"schema":1,"event_id":")" + r.event_id +
                           R"(","type":"budget_alert","ts":"2026-11-22T09:01:02.003Z","tenant":"acme",)"
                           R"("window":"daily","threshold":0.8,"limit_usd":0.5,"spent_usd":0.4123,)"
                           R"("resets_at":"2026-11-23T00:00:00Z"})");
  const Record ce = to_record(e, config::EventFormat::cloudevents, at(9, 1, 2, 3));
  EXPECT_NE(ce.payload.find(R"("type":"tollgate.budget_alert")"), std::string::npos);
}

TEST(EventId, IsUuidV7AndTimeOrderedAndUnique) {
  const std::regex uuid7("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  std::string previous;
  for (int i = 0; i < 5000; ++i) {
    const std::string id = new_event_id();
    ASSERT_TRUE(std::regex_match(id, uuid7)) << id;
    EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
    EXPECT_LT(previous, id) << "not time-ordered on one thread";
    previous = id;
  }
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> per_thread(4);
  for (auto& ids : per_thread) {
    threads.emplace_back([&ids] {
      for (int i = 0; i < 2000; ++i) ids.push_back(new_event_id());
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& ids : per_thread) {
    for (const auto& id : ids) EXPECT_TRUE(seen.insert(id).second) << "duplicate across threads " << id;
  }
}

TEST(InstanceId, IsStableForTheProcess) {
  EXPECT_EQ(instance_id(), instance_id());
  EXPECT_EQ(instance_id().rfind("tollgate/", 0), 0u);
}

}  // namespace
}  // namespace tollgate::usage
