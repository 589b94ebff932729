// Renders response bodies, error bodies and SSE events for the mock upstream.
#include "mock_response.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace mock_upstream {
namespace {

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

void append_signed(std::string& out, std::int64_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

void append_token(std::string& out, std::uint32_t index) {
  out.append("tok");
  append_number(out, index);
  out.push_back(' ');
}

void append_usage(std::string& out, std::uint64_t prompt, std::uint64_t completion) {
  out.append("{\"prompt_tokens\":");
  append_number(out, prompt);
  out.append(",\"completion_tokens\":");
  append_number(out, completion);
  out.append(",\"total_tokens\":");
  append_number(out, prompt + completion);
  out.push_back('}');
}

std::string_view finish_reason(bool length) { return length ? "\"length\"" : "\"stop\""; }

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (byte < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

std::string response_id(Endpoint endpoint, std::uint64_t counter) {
  std::string id = endpoint == Endpoint::chat ? "chatcmpl-mock-" : "cmpl-mock-";
  append_number(id, counter);
  return id;
}

std::string completion_text(std::uint32_t tokens) {
  std::string text;
  text.reserve(std::size_t{tokens} * 8);
  for (std::uint32_t i = 0; i < tokens; ++i) append_token(text, i);
  return text;
}

std::string render_completion(const Plan& plan, std::string_view id, std::int64_t created) {
  const bool chat = plan.endpoint == Endpoint::chat;
  std::string out;
  out.reserve(256 + std::size_t{plan.completion_tokens} * 8);
  out.append("{\"id\":");
  append_json_string(out, id);
  out.append(chat ? ",\"object\":\"chat.completion\",\"created\":"
                  : ",\"object\":\"text_completion\",\"created\":");
  append_signed(out, created);
  out.append(",\"model\":");
  append_json_string(out, plan.model);
  // The text needs no escaping: it is "tokN " repeated.
  if (chat) {
    out.append(",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
  } else {
    out.append(",\"choices\":[{\"text\":\"");
  }
  for (std::uint32_t i = 0; i < plan.completion_tokens; ++i) append_token(out, i);
  out.append(chat ? "\"},\"finish_reason\":" : "\",\"index\":0,\"logprobs\":null,\"finish_reason\":");
  out.append(finish_reason(plan.finish_length));
  out.append("}]");
  if (!plan.knobs.no_usage) {
    out.append(",\"usage\":");
    append_usage(out, plan.prompt_tokens, plan.completion_tokens);
  }
  out.push_back('}');
  return out;
}

std::vector<int> embedding_values(std::uint64_t seed) {
  std::vector<int> values(8);
  for (std::size_t j = 0; j < values.size(); ++j) {
    values[j] = static_cast<int>(splitmix64(seed + j) % 1999) - 999;
  }
  return values;
}

std::string render_embeddings(const Plan& plan) {
  std::string out;
  out.reserve(128 + plan.embedding_seeds.size() * 100);
  out.append("{\"object\":\"list\",\"data\":[");
  for (std::size_t i = 0; i < plan.embedding_seeds.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"object\":\"embedding\",\"index\":");
    append_number(out, i);
    out.append(",\"embedding\":[");
    const auto values = embedding_values(plan.embedding_seeds[i]);
    for (std::size_t j = 0; j < values.size(); ++j) {
      if (j > 0) out.push_back(',');
      const int v = values[j];
      if (v < 0) out.push_back('-');
      const int magnitude = v < 0 ? -v : v;
      out.append("0.");
      out.push_back(static_cast<char>('0' + magnitude / 100));
      out.push_back(static_cast<char>('0' + magnitude / 10 % 10));
      out.push_back(static_cast<char>('0' + magnitude % 10));
    }
    out.append("]}");
  }
  out.append("],\"model\":");
  append_json_string(out, plan.model);
  if (!plan.knobs.no_usage) {
    out.append(",\"usage\":{\"prompt_tokens\":");
    append_number(out, plan.prompt_tokens);
    out.append(",\"total_tokens\":");
    append_number(out, plan.prompt_tokens);
    out.push_back('}');
  }
  out.push_back('}');
  return out;
}

std::string_view error_type_for(unsigned status) {
  if (status >= 500) return "server_error";
  if (status == 429) return "rate_limit_error";
  if (status == 401) return "authentication_error";
  return "invalid_request_error";
}

std::string render_error(std::string_view message, std::string_view type, std::string_view param,
                         std::string_view code) {
  std::string out = "{\"error\":{\"message\":";
  append_json_string(out, message);
  out.append(",\"type\":");
  append_json_string(out, type);
  out.append(",\"param\":");
  if (param.empty()) {
    out.append("null");
  } else {
    append_json_string(out, param);
  }
  out.append(",\"code\":");
  append_json_string(out, code);
  out.append("}}");
  return out;
}

std::string render_models() {
  std::string out = "{\"object\":\"list\",\"data\":[";
  const std::string_view ids[] = {"mock-model", "gpt-4o-mini", "text-embedding-3-small"};
  for (std::size_t i = 0; i < std::size(ids); ++i) {
    if (i > 0) out.push_back(',');
    out.append("{\"id\":");
    append_json_string(out, ids[i]);
    out.append(",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"mock\"}");
  }
  out.append("]}");
  return out;
}

std::string render_stats(const Stats& stats) {
  const std::pair<std::string_view, std::uint64_t> fields[] = {
      {"requests", stats.requests},
      {"connections", stats.connections},
      {"connections_accepted", stats.connections},
      {"tls_handshake_failures", stats.tls_handshake_failures},
      {"streams_started", stats.streams_started},
      {"streams_completed", stats.streams_completed},
      {"streams_aborted", stats.streams_aborted},
      {"streams_reset", stats.streams_reset},
      {"h2_connections", stats.h2_connections},
      {"h2_streams", stats.h2_streams},
      {"h2_resets_received", stats.h2_resets_received},
      {"h2_goaways_sent", stats.h2_goaways_sent},
      {"h2_streams_refused", stats.h2_streams_refused},
      {"active_streams", stats.streams_started - stats.streams_completed - stats.streams_aborted -
                             stats.streams_reset},
  };
  std::string out = "{";
  for (const auto& [name, value] : fields) {
    if (out.size() > 1) out.push_back(',');
    append_json_string(out, name);
    out.push_back(':');
    append_number(out, value);
  }
  out.push_back('}');
  return out;
}

std::string render_recorded(const RecordedRequest& request) {
  // Join repeated headers (case-insensitively) in first-seen order.
  std::vector<std::pair<std::string, std::string>> joined;
  for (const auto& [name, value] : request.headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it = std::find_if(joined.begin(), joined.end(),
                           [&](const auto& entry) { return entry.first == lower; });
    if (it == joined.end()) {
      joined.emplace_back(std::move(lower), value);
    } else {
      it->second.append(", ").append(value);
    }
  }
  std::string out = "{\"method\":";
  append_json_string(out, request.method);
  out.append(",\"target\":");
  append_json_string(out, request.target);
  out.append(",\"headers\":{");
  for (std::size_t i = 0; i < joined.size(); ++i) {
    if (i > 0) out.push_back(',');
    append_json_string(out, joined[i].first);
    out.push_back(':');
    append_json_string(out, joined[i].second);
  }
  out.append("},\"body\":");
  append_json_string(out, request.body);
  out.push_back('}');
  return out;
}

SseScript::SseScript(const Plan& plan, std::string_view id, std::int64_t created)
    : endpoint_(plan.endpoint),
      completion_tokens_(plan.completion_tokens),
      prompt_tokens_(plan.prompt_tokens),
      finish_length_(plan.finish_length),
      send_usage_(plan.include_usage && !plan.knobs.no_usage),
      comments_(plan.knobs.sse_comments),
      line_end_(comments_ ? "\r\n" : "\n"),
      state_(plan.endpoint == Endpoint::chat ? State::role : State::tokens) {
  head_.append("{\"id\":");
  append_json_string(head_, id);
  head_.append(endpoint_ == Endpoint::chat ? ",\"object\":\"chat.completion.chunk\",\"created\":"
                                           : ",\"object\":\"text_completion\",\"created\":");
  append_signed(head_, created);
  head_.append(",\"model\":");
  append_json_string(head_, plan.model);
  head_.append(",\"choices\":");
}

std::optional<SseStep> SseScript::next() {
  if (state_ == State::end) return std::nullopt;
  event_is_json_ = false;
  if (comment_due_) {
    comment_due_ = false;
    event_.assign(": keep-alive");
    event_.append(line_end_).append(line_end_);
    return SseStep{SseStep::Kind::comment, event_};
  }
  comment_due_ = comments_;  // a comment goes between this event and the next

  if (state_ == State::tokens && tokens_emitted_ == completion_tokens_) state_ = State::finish;
  if (state_ == State::usage && !send_usage_) state_ = State::done;

  const std::string_view usage_null = send_usage_ ? ",\"usage\":null}" : "}";
  const bool chat = endpoint_ == Endpoint::chat;
  event_.assign("data: ");
  SseStep::Kind kind = SseStep::Kind::done;
  switch (state_) {
    case State::role:
      event_.append(head_);
      event_.append("[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
                    "\"finish_reason\":null}]");
      event_.append(usage_null);
      kind = SseStep::Kind::role;
      state_ = State::tokens;
      break;
    case State::tokens:
      event_.append(head_);
      event_.append(chat ? "[{\"index\":0,\"delta\":{\"content\":\"" : "[{\"text\":\"");
      append_token(event_, tokens_emitted_);
      event_.append(chat ? "\"},\"finish_reason\":null}]"
                         : "\",\"index\":0,\"logprobs\":null,\"finish_reason\":null}]");
      event_.append(usage_null);
      kind = SseStep::Kind::token;
      ++tokens_emitted_;
      break;
    case State::finish:
      event_.append(head_);
      event_.append(chat ? "[{\"index\":0,\"delta\":{},\"finish_reason\":"
                         : "[{\"text\":\"\",\"index\":0,\"logprobs\":null,\"finish_reason\":");
      event_.append(finish_reason(finish_length_));
      event_.append("}]");
      event_.append(usage_null);
      kind = SseStep::Kind::finish;
      state_ = State::usage;
      break;
    case State::usage:
      event_.append(head_);
      event_.append("[],\"usage\":");
      append_usage(event_, prompt_tokens_, completion_tokens_);
      event_.push_back('}');
      kind = SseStep::Kind::usage;
      state_ = State::done;
      break;
    case State::done:
      event_.append("[DONE]");
      kind = SseStep::Kind::done;
      state_ = State::end;
      comment_due_ = false;
      break;
    case State::end:
      return std::nullopt;
  }
  event_.append(line_end_).append(line_end_);
  event_is_json_ = kind != SseStep::Kind::done;
  return SseStep{kind, event_};
}

std::string_view SseScript::stamp(std::uint64_t sent_us) {
  if (!event_is_json_) return event_;
  // The event ends in "}" + two line ends; the field goes just before that brace.
  std::string field = ",\"mock_sent_us\":" + std::to_string(sent_us);
  event_.insert(event_.size() - 2 * line_end_.size() - 1, field);
  event_is_json_ = false;  // stamp once
  return event_;
}

}  // namespace mock_upstream
