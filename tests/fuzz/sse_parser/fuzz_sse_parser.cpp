// libFuzzer target for the relay stage's SSE parser: chunk invariance (the same bytes fed whole
// and in random pieces yield the same events), byte-exact raw reconstruction, and inspect_chunk
// on every event's data. The first two bytes choose the split seed and the event size limit.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/stream/chunk_inspector.hpp"
#include "tollgate/stream/sse_parser.hpp"
#include "tollgate/stream/token_counter.hpp"

namespace {

using tollgate::stream::ChunkInfo;
using tollgate::stream::SseEvent;
using tollgate::stream::SseParser;

void check(bool condition) {
  if (!condition) std::abort();
}

struct Recorded {
  std::string raw;
  std::string data;
  std::string event;
  std::string id;
  bool has_data = false;
  bool is_done = false;
  friend bool operator==(const Recorded&, const Recorded&) = default;
};

struct Parsed {
  std::vector<Recorded> events;
  std::string unterminated;
  bool ok = true;
};

void check_event(const SseEvent& e) {
  check(!e.raw.empty());
  check(e.raw.back() == '\n' || e.raw.back() == '\r');
  check(e.is_done == (e.has_data && e.data == "[DONE]"));
  check(e.has_data || e.data.empty());
  if (!e.has_data) return;
  const ChunkInfo info = tollgate::stream::inspect_chunk(e.data);
  // Unescaping never makes a string longer than its JSON form.
  check(info.content_bytes <= e.data.size());
  check(info.min_tokens.value >= 0 && static_cast<std::size_t>(info.min_tokens.value) <= info.content_bytes);
  check(info.has_content == (info.content_bytes > 0));
  check((info.kind == ChunkInfo::Kind::done) == e.is_done);
  if (info.prompt_tokens) check(info.prompt_tokens->value >= 0);
  tollgate::stream::CompletionCounter counter;
  counter.add(info);
  check(counter.tokens().value >= 0);
}

Parsed parse(std::string_view input, const std::vector<std::size_t>& cuts, std::size_t max_bytes) {
  SseParser parser(max_bytes);
  Parsed out;
  const auto on_event = [&](const SseEvent& e) {
    check_event(e);
    out.events.push_back(Recorded{std::string(e.raw), std::string(e.data), std::string(e.event),
                                  std::string(e.id), e.has_data, e.is_done});
  };
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= cuts.size(); ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : input.size();
    // A copy per piece, so a view into an earlier piece would be caught by ASan.
    const std::string piece(input.substr(begin, end - begin));
    if (!parser.feed(piece, on_event)) {
      out.ok = false;
      check(parser.pending_bytes() == 0);
      return out;
    }
    check(parser.pending_bytes() <= max_bytes);
    begin = end;
  }
  parser.finish(on_event);
  out.unterminated = std::string(parser.unterminated());
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint32_t seed = data[0];
  // From 16 bytes (the limit is hit often) to about 4 KiB (rarely).
  const std::size_t max_bytes = 16 + std::size_t{data[1]} * 16;
  const std::string_view input(reinterpret_cast<const char*>(data) + 2, size - 2);

  const Parsed whole = parse(input, {}, max_bytes);
  if (whole.ok) {
    std::string all;
    for (const Recorded& e : whole.events) all += e.raw;
    check(all + whole.unterminated == input);
  }

  std::mt19937 rng(seed);
  for (int round = 0; round < 4; ++round) {
    std::vector<std::size_t> cuts;
    if (input.size() > 1) {
      const std::size_t pieces = std::uniform_int_distribution<std::size_t>(2, input.size())(rng);
      for (std::size_t i = 1; i < pieces; ++i) {
        cuts.push_back(std::uniform_int_distribution<std::size_t>(1, input.size() - 1)(rng));
      }
      std::sort(cuts.begin(), cuts.end());
      cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    }
    const Parsed split = parse(input, cuts, max_bytes);
    check(split.ok == whole.ok);
    check(split.events == whole.events);
    check(split.unterminated == whole.unterminated);
  }
  return 0;
}
