// Built-in checks for the pure parts of the mock: token counting, completion text, bodies and
// the SSE event sequence. Run by CTest as mock_upstream_self_check.
#include "self_check.hpp"

#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include <simdjson.h>

#include "mock_request.hpp"
#include "mock_response.hpp"

namespace mock_upstream {
namespace {

class Checker {
 public:
  void expect(bool ok, const std::string& what) {
    if (!ok) {
      ++failures_;
      std::fprintf(stderr, "self-check FAILED: %s\n", what.c_str());
    }
  }
  bool passed() const { return failures_ == 0; }

 private:
  int failures_ = 0;
};

Plan plan_of(Checker& check, Endpoint endpoint, std::string_view body, Defaults defaults = {}) {
  simdjson::dom::parser parser;
  ParseResult result = parse_request(parser, endpoint, body, defaults);
  if (const auto* bad = std::get_if<BadRequest>(&result)) {
    check.expect(false, "unexpected 400 for " + std::string(body) + ": " + bad->message);
    return Plan{};
  }
  return std::get<Plan>(std::move(result));
}

std::string bad_code(std::string_view body, Endpoint endpoint = Endpoint::chat) {
  simdjson::dom::parser parser;
  ParseResult result = parse_request(parser, endpoint, body, Defaults{});
  const auto* bad = std::get_if<BadRequest>(&result);
  return bad ? bad->code + ":" + bad->param : "accepted";
}

bool valid_json(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::element ignored;
  return parser.parse(text.data(), text.size()).get(ignored) == simdjson::SUCCESS;
}

void check_chat(Checker& check) {
  // B = 12 + 4 (text part) = 16 → 4 tokens, plus 3 per message for 2 messages.
  Plan plan = plan_of(check, Endpoint::chat,
                      R"({"model":"m\"x","max_tokens":3,"messages":[{"role":"user","content":"hello world!"},)"
                      R"({"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url"}]}]})");
  check.expect(plan.prompt_tokens == 10, "chat prompt tokens = ceil(16/4) + 3*2");
  check.expect(plan.completion_tokens == 3 && plan.finish_length, "max_tokens below default");
  const std::string body = render_completion(plan, "chatcmpl-mock-7", 1700000000);
  check.expect(valid_json(body), "chat body is JSON");
  check.expect(body.find(R"("content":"tok0 tok1 tok2 "},"finish_reason":"length")") != std::string::npos,
               "chat body text and finish_reason: " + body);
  check.expect(body.find(R"("usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13})") !=
                   std::string::npos,
               "chat body usage");
  check.expect(body.find(R"("model":"m\"x")") != std::string::npos, "model is escaped");

  plan = plan_of(check, Endpoint::chat,
                 R"({"model":"m","max_completion_tokens":3,"max_tokens":1,"messages":[],"mock":{"completion_tokens":5,"no_usage":true}})");
  check.expect(plan.completion_tokens == 5 && !plan.finish_length, "mock.completion_tokens wins");
  check.expect(plan.prompt_tokens == 1, "prompt tokens are at least 1");
  check.expect(render_completion(plan, "x", 0).find("usage") == std::string::npos, "no_usage");

  plan = plan_of(check, Endpoint::chat, R"({"model":"m","max_tokens":100,"messages":[]})");
  check.expect(plan.completion_tokens == 16 && !plan.finish_length, "default caps max_tokens");
  check.expect(completion_text(3) == "tok0 tok1 tok2 ", "completion_text");
}

void check_other_endpoints(Checker& check) {
  Plan plan = plan_of(check, Endpoint::completions, R"({"model":"m","prompt":["ab","cde"]})");
  check.expect(plan.prompt_tokens == 2, "completions prompt tokens = ceil(5/4)");
  const std::string body = render_completion(plan, "cmpl-mock-1", 1);
  check.expect(valid_json(body) && body.find(R"("object":"text_completion")") != std::string::npos,
               "completions body");

  plan = plan_of(check, Endpoint::embeddings, R"({"model":"e","input":[[1,2,3],[4]]})");
  check.expect(plan.prompt_tokens == 4 && plan.embedding_seeds.size() == 2, "token-array inputs");
  plan = plan_of(check, Endpoint::embeddings, R"({"model":"e","input":["abcde","x"]})");
  check.expect(plan.prompt_tokens == 3 && plan.embedding_seeds.size() == 2, "string inputs");
  const std::string embeddings = render_embeddings(plan);
  check.expect(valid_json(embeddings), "embeddings body is JSON: " + embeddings);
  check.expect(embedding_values(42) == embedding_values(42), "embeddings are deterministic");

  check.expect(bad_code("{nope") == "invalid_json:", "bad JSON");
  check.expect(bad_code(R"({"model":"m"})") == "invalid_value:messages", "missing messages");
  check.expect(bad_code(R"({"model":"m","messages":[],"mock":{"fail_status":200}})") ==
                   "invalid_value:mock.fail_status",
               "fail_status range");
  check.expect(bad_code(R"({"model":"m","messages":[],"mock":{"one_write":true,"chunk_delay_ms":5}})") ==
                   "invalid_value:mock.one_write",
               "one_write with chunk_delay_ms");
  check.expect(plan_of(check, Endpoint::chat, R"({"model":"m","messages":[],"mock":{"one_write":true}})").knobs.one_write,
               "mock.one_write parsed");
  check.expect(bad_code(R"({"model":"m","input":[]})", Endpoint::embeddings) == "invalid_value:input",
               "empty embeddings input");
  check.expect(valid_json(render_error("a\nb", "server_error", "", "c")), "error body");
  check.expect(valid_json(render_models()), "models body");
  Stats stats;
  stats.requests = 9;
  stats.streams_started = 7;
  stats.streams_completed = 3;
  stats.streams_aborted = 2;
  stats.streams_reset = 1;
  const std::string stats_body = render_stats(stats);
  check.expect(valid_json(stats_body) &&
                   stats_body.find(R"("requests":9,)") != std::string::npos &&
                   stats_body.find(R"("streams_aborted":2,)") != std::string::npos &&
                   stats_body.ends_with(R"("active_streams":1})"),
               "stats body: " + stats_body);

  RecordedRequest recorded;
  recorded.sequence = 1;
  recorded.method = "POST";
  recorded.target = "/v1/x";
  recorded.headers = {{"X-A", "1"}, {"x-a", "2"}, {"Host", "h"}};
  recorded.body = "{\"k\":\"\x01\"}";
  const std::string last = render_recorded(recorded);
  check.expect(valid_json(last) && last.find(R"("x-a":"1, 2")") != std::string::npos,
               "recorded headers lowercased and joined: " + last);
}

void check_stream(Checker& check) {
  Plan plan = plan_of(check, Endpoint::chat,
                      R"({"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[],"mock":{"completion_tokens":2}})");
  SseScript script(plan, "chatcmpl-mock-1", 5);
  std::vector<SseStep::Kind> kinds;
  while (auto step = script.next()) {
    kinds.push_back(step->kind);
    const std::string_view text = step->text;
    const bool framed = text.starts_with("data: ") && text.ends_with("\n\n");
    check.expect(framed, "SSE framing: " + std::string(text));
    if (framed && step->kind != SseStep::Kind::done) {
      check.expect(valid_json(text.substr(6, text.size() - 8)), "chunk JSON: " + std::string(text));
    }
  }
  using K = SseStep::Kind;
  check.expect(kinds == std::vector<K>{K::role, K::token, K::token, K::finish, K::usage, K::done},
               "chat event order");

  plan = plan_of(check, Endpoint::completions,
                 R"({"model":"m","prompt":"p","stream":true,"mock":{"completion_tokens":1,"sse_comments":true}})");
  SseScript commented(plan, "cmpl-mock-1", 5);
  kinds.clear();
  std::string all;
  while (auto step = commented.next()) {
    kinds.push_back(step->kind);
    all.append(step->text);
  }
  check.expect(kinds == std::vector<K>{K::token, K::comment, K::finish, K::comment, K::done},
               "completions event order with comments");
  check.expect(all.find(": keep-alive\r\n\r\n") != std::string::npos &&
                   all.ends_with("data: [DONE]\r\n\r\n") && all.find("\n\n") == std::string::npos,
               "CRLF line endings: " + all);

  plan = plan_of(check, Endpoint::chat,
                 R"({"model":"m","stream":true,"messages":[],"mock":{"completion_tokens":1,"timestamps":true,"sse_comments":true}})");
  check.expect(plan.knobs.timestamps, "mock.timestamps parsed");
  SseScript stamped(plan, "chatcmpl-mock-1", 5);
  std::string all_stamped;
  while (auto step = stamped.next()) {
    const std::string text(stamped.stamp(1234));
    all_stamped.append(text);
    if (step->kind == K::comment || step->kind == K::done) {
      check.expect(text.find("mock_sent_us") == std::string::npos, "no stamp: " + text);
    } else {
      check.expect(text.ends_with(",\"mock_sent_us\":1234}\r\n\r\n") &&
                       valid_json(text.substr(6, text.size() - 10)),
                   "stamped chunk: " + text);
    }
  }
  check.expect(all_stamped.ends_with("data: [DONE]\r\n\r\n"), "stamped stream ends in [DONE]");
}

}  // namespace

bool run_self_check() {
  Checker check;
  check_chat(check);
  check_other_endpoints(check);
  check_stream(check);
  std::fputs(check.passed() ? "self-check ok\n" : "self-check failed\n", stderr);
  return check.passed();
}

}  // namespace mock_upstream
