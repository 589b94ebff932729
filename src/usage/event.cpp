#include "tollgate/usage/event.hpp"

#include <unistd.h>

#include <array>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <cstdio>
#include <random>

#include "tollgate/core/digits.hpp"
#include "tollgate/core/json_string.hpp"
#include "tollgate/core/timestamp.hpp"

namespace tollgate::usage {

namespace {

using std::chrono::system_clock;

// Cuts `s` to at most kMaxLabelBytes without splitting a UTF-8 sequence.
std::string_view capped(std::string_view s) {
  if (s.size() <= kMaxLabelBytes) return s;
  std::size_t cut = kMaxLabelBytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return s.substr(0, cut);
}

// Appends `"name":` to a JSON object being built (after a comma unless it is the first member),
// in one append. Names are this file's own literals: plain ASCII, no escaping, short.
void key(std::string& out, std::string_view name) {
  std::array<char, 40> text;
  if (name.size() + 4 > text.size()) throw std::logic_error("event member name too long");
  std::size_t n = 0;
  if (out.back() != '{') text[n++] = ',';
  text[n++] = '"';
  std::memcpy(text.data() + n, name.data(), name.size());
  n += name.size();
  text[n++] = '"';
  text[n++] = ':';
  out.append(text.data(), n);
}
void member(std::string& out, std::string_view name, std::string_view value) {
  key(out, name);
  append_json_string(out, value);
}
void member(std::string& out, std::string_view name, std::int64_t value) {
  key(out, name);
  std::array<char, 24> digits;
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}
void member_raw(std::string& out, std::string_view name, std::string_view json) {
  key(out, name);
  out += json;
}
void optional_member(std::string& out, std::string_view name, const std::optional<std::string_view>& value) {
  if (value) {
    member(out, name, capped(*value));
  } else {
    member_raw(out, name, "null");
  }
}

// The members every event type shares (SPEC section 6).
void common(std::string& out, std::string_view type, const std::string& event_id, const std::string& ts,
            std::string_view tenant) {
  out += '{';
  member(out, "schema", 1);
  member(out, "event_id", event_id);
  member(out, "type", type);
  member(out, "ts", ts);
  member(out, "tenant", tenant);
}

// Wraps `data` per format; `type` is the event's own type ("usage", "budget_alert").
Record finish(std::string data, std::string_view type, std::string event_id, const std::string& ts,
              std::string_view tenant, config::EventFormat format) {
  Record record{std::string(tenant), std::move(event_id), {}};
  if (format == config::EventFormat::tollgate) {
    record.payload = std::move(data);
    return record;
  }
  std::string& out = record.payload;
  out.reserve(data.size() + 256);
  out += '{';
  member(out, "specversion", "1.0");
  member(out, "id", record.event_id);
  member(out, "source", instance_id());
  member(out, "type", std::string("tollgate.") += type);
  member(out, "subject", tenant);
  member(out, "time", ts);
  member(out, "datacontenttype", "application/json");
  member_raw(out, "data", data);
  out += '}';
  return record;
}

struct Random {
  std::mt19937_64 engine{std::random_device{}()};
};

}  // namespace

std::string new_event_id() {
  // UUIDv7: 48-bit Unix milliseconds, version 7, 12 bits of per-thread counter (monotonic
  // within a millisecond on this thread), variant 10, 62 random bits.
  thread_local Random random;
  thread_local std::uint64_t last_ms = 0;
  thread_local std::uint16_t counter = 0;
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(system_clock::now().time_since_epoch()).count());
  if (ms > last_ms) {
    last_ms = ms;
    counter = static_cast<std::uint16_t>(random.engine() & 0x07FF);  // leave room to count up
  } else if (counter < 0x0FFF) {
    ++counter;  // same millisecond (or the clock stepped back): count up
  } else {
    ++last_ms;  // 4096 ids in one millisecond: borrow the next one, keep the order
    counter = 0;
  }
  const std::uint64_t high = (last_ms << 16) | 0x7000u | counter;
  const std::uint64_t low = (random.engine() & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  std::string text;
  text.reserve(36);
  append_hex(text, high >> 32, 8);
  text += '-';
  append_hex(text, high >> 16, 4);
  text += '-';
  append_hex(text, high, 4);
  text += '-';
  append_hex(text, low >> 48, 4);
  text += '-';
  append_hex(text, low, 12);
  return text;
}

const std::string& instance_id() {
  static const std::string id = [] {
    std::array<char, 256> host{};
    if (gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
    std::array<char, 9> suffix{};
    std::snprintf(suffix.data(), suffix.size(), "%08x", static_cast<unsigned>(std::random_device{}()));
    std::string out = "tollgate/";
    out += host.data()[0] != '\0' ? host.data() : "unknown";
    out += '/';
    out += suffix.data();
    return out;
  }();
  return id;
}

Record to_record(const UsageEvent& e, config::EventFormat format, system_clock::time_point now) {
  std::string event_id = new_event_id();
  const std::string ts = rfc3339_ms(now);
  std::string out;
  out.reserve(768);
  common(out, "usage", event_id, ts, e.tenant);
  member(out, "request_id", e.request_id);
  member(out, "key", e.key_name);
  member(out, "key_prefix", e.key_prefix);
  member(out, "plan", e.plan);
  member(out, "route", e.route);
  member(out, "provider", e.provider);
  member(out, "model_requested", e.model_requested);
  member(out, "model", e.model);
  member_raw(out, "stream", e.stream ? "true" : "false");
  member(out, "status", static_cast<std::int64_t>(e.status));
  member(out, "outcome", e.outcome);
  member(out, "input_tokens", e.input_tokens.value);
  member(out, "output_tokens", e.output_tokens.value);
  member(out, "token_source", e.token_source);
  member(out, "cost_nano_usd", e.cost.value);
  member(out, "latency_ms", e.latency_ms);
  if (e.ttft_ms) {
    member(out, "ttft_ms", *e.ttft_ms);
  } else {
    member_raw(out, "ttft_ms", "null");
  }
  optional_member(out, "feature", e.feature);
  optional_member(out, "agent", e.agent);
  optional_member(out, "end_user", e.end_user);
  out += '}';
  return finish(std::move(out), "usage", std::move(event_id), ts, e.tenant, format);
}

Record to_record(const BudgetAlertEvent& e, config::EventFormat format, system_clock::time_point now) {
  std::string event_id = new_event_id();
  const std::string ts = rfc3339_ms(now);
  std::string out;
  common(out, "budget_alert", event_id, ts, e.tenant);
  member(out, "window", e.window);
  std::array<char, 32> threshold{};
  std::snprintf(threshold.data(), threshold.size(), "%.6g", e.threshold);
  member_raw(out, "threshold", threshold.data());
  member_raw(out, "limit_usd", format_usd(e.limit));
  member_raw(out, "spent_usd", format_usd(e.spent));
  member(out, "resets_at", rfc3339(e.resets_at));
  out += '}';
  return finish(std::move(out), "budget_alert", std::move(event_id), ts, e.tenant, format);
}

}  // namespace tollgate::usage
