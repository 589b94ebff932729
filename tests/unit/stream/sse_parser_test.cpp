#include "tollgate/stream/sse_parser.hpp"

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "stream_corpus.hpp"

namespace tollgate::stream {
namespace {

using namespace std::string_view_literals;

struct Recorded {
  std::string raw;
  std::string data;
  std::string event;
  std::string id;
  bool has_data = false;
  bool is_done = false;
  friend bool operator==(const Recorded&, const Recorded&) = default;
};

// Readable failure messages (gtest finds these by ADL).
[[maybe_unused]] void PrintTo(const Recorded& e, std::ostream* out) {
  *out << "{raw=" << testing::PrintToString(e.raw) << " data=" << testing::PrintToString(e.data)
       << " event=" << testing::PrintToString(e.event) << " id=" << testing::PrintToString(e.id)
       << " has_data=" << e.has_data << " is_done=" << e.is_done << "}";
}

struct Parsed {
  std::vector<Recorded> events;
  std::string unterminated;
  bool ok = true;
  friend bool operator==(const Parsed&, const Parsed&) = default;
};

[[maybe_unused]] void PrintTo(const Parsed& p, std::ostream* out) {
  *out << "ok=" << p.ok << " unterminated=" << testing::PrintToString(p.unterminated) << " events=[";
  for (const Recorded& e : p.events) {
    PrintTo(e, out);
    *out << " ";
  }
  *out << "]";
}

Recorded record(const SseEvent& e) {
  return Recorded{std::string(e.raw), std::string(e.data), std::string(e.event), std::string(e.id),
                  e.has_data, e.is_done};
}

// Feeds `input` cut at `cuts` (sorted offsets), then ends the stream.
Parsed parse_split(std::string_view input, const std::vector<std::size_t>& cuts,
                   std::size_t max_event_bytes = SseParser::kDefaultMaxEventBytes) {
  SseParser parser(max_event_bytes);
  Parsed out;
  const auto on_event = [&](const SseEvent& e) { out.events.push_back(record(e)); };
  std::size_t begin = 0;
  for (std::size_t i = 0; i <= cuts.size() && out.ok; ++i) {
    const std::size_t end = i < cuts.size() ? cuts[i] : input.size();
    // Each piece is copied to its own buffer, as a socket read would deliver it.
    const std::string piece(input.substr(begin, end - begin));
    if (!parser.feed(piece, on_event)) out.ok = false;
    begin = end;
  }
  if (out.ok) {
    parser.finish(on_event);
    out.unterminated = std::string(parser.unterminated());
  }
  return out;
}

Parsed parse_whole(std::string_view input) { return parse_split(input, {}); }

std::string reassemble(const Parsed& p) {
  std::string all;
  for (const Recorded& e : p.events) all += e.raw;
  return all + p.unterminated;
}

TEST(SseParser, ChatStreamEvents) {
  const Parsed p = parse_whole(test::kChatWithUsage);
  ASSERT_TRUE(p.ok);
  ASSERT_EQ(p.events.size(), 7u);
  EXPECT_TRUE(p.events[1].has_data);
  EXPECT_TRUE(p.events[1].data.starts_with("{\"id\":\"chatcmpl-1\""));
  EXPECT_TRUE(p.events[1].raw.starts_with("data: {"));
  EXPECT_TRUE(p.events[1].raw.ends_with("}\n\n"));
  EXPECT_FALSE(p.events[5].is_done);
  EXPECT_TRUE(p.events[6].is_done);
  EXPECT_EQ(p.events[6].data, "[DONE]");
  EXPECT_EQ(p.events[6].raw, "data: [DONE]\n\n");
  EXPECT_EQ(p.unterminated, "");
}

TEST(SseParser, KeepAliveCommentsHaveNoData) {
  const Parsed p = parse_whole(test::kKeepAliveCrlf);
  ASSERT_EQ(p.events.size(), 6u);
  EXPECT_EQ(p.events[0].raw, ": keep-alive\r\n\r\n");
  EXPECT_FALSE(p.events[0].has_data);
  EXPECT_EQ(p.events[0].data, "");
  EXPECT_TRUE(p.events[1].has_data);
  EXPECT_EQ(p.events[1].data, "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok0 \"}}]}");
  EXPECT_TRUE(p.events[5].is_done);
  EXPECT_EQ(p.events[5].raw, "data: [DONE]\r\n\r\n");
}

TEST(SseParser, LoneCrLineEndings) {
  const Parsed p = parse_whole(test::kLoneCr);
  ASSERT_EQ(p.events.size(), 4u);
  EXPECT_EQ(p.events[0].raw, "data: a\r\r");
  EXPECT_EQ(p.events[0].data, "a");
  EXPECT_EQ(p.events[1].raw, ":c\rdata: b\r\r");
  EXPECT_EQ(p.events[1].data, "b");
  EXPECT_EQ(p.events[2].raw, "\r");
  EXPECT_FALSE(p.events[2].has_data);
  // The last event ends with a CR at the end of the stream: finish() reports it.
  EXPECT_EQ(p.events[3].raw, "data: [DONE]\r\r");
  EXPECT_TRUE(p.events[3].is_done);
}

TEST(SseParser, FinalCrWaitsForTheNextByte) {
  SseParser parser;
  std::vector<Recorded> events;
  const auto on_event = [&](const SseEvent& e) { events.push_back(record(e)); };
  ASSERT_TRUE(parser.feed("data: a\r\r", on_event));
  EXPECT_TRUE(events.empty());  // an LF may still belong to the blank line
  ASSERT_TRUE(parser.feed("\ndata: b\n\n", on_event));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].raw, "data: a\r\r\n");
  EXPECT_EQ(events[1].raw, "data: b\n\n");
}

TEST(SseParser, CrLfSplitAcrossFeedsIsOneLineEnding) {
  SseParser parser;
  std::vector<Recorded> events;
  const auto on_event = [&](const SseEvent& e) { events.push_back(record(e)); };
  ASSERT_TRUE(parser.feed("data: a\r", on_event));
  ASSERT_TRUE(parser.feed("\n", on_event));
  EXPECT_TRUE(events.empty());  // the LF completed the data line, not a blank line
  ASSERT_TRUE(parser.feed("\r", on_event));
  ASSERT_TRUE(parser.feed("\n", on_event));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].raw, "data: a\r\n\r\n");
  EXPECT_EQ(events[0].data, "a");
}

TEST(SseParser, Fields) {
  const Parsed p = parse_whole(test::kFields);
  ASSERT_EQ(p.events.size(), 6u);
  EXPECT_EQ(p.events[0].raw, "retry: 3000\n\n");
  EXPECT_FALSE(p.events[0].has_data);
  EXPECT_EQ(p.events[1].event, "message_start");
  EXPECT_EQ(p.events[1].id, "7");
  EXPECT_EQ(p.events[1].data, "{\"type\":\"message_start\"}");
  EXPECT_EQ(p.events[2].event, "ping");
  EXPECT_EQ(p.events[2].data, "no-space");
  EXPECT_EQ(p.events[3].data, " two spaces");  // only one space is removed
  EXPECT_EQ(p.events[3].event, "");            // `event` without a colon: empty value
  EXPECT_TRUE(p.events[4].has_data);           // `data` without a colon: one empty line
  EXPECT_EQ(p.events[4].data, "");
  EXPECT_EQ(p.events[5].id, "");  // an id containing NUL is ignored
  EXPECT_EQ(p.events[5].data, "x");
}

TEST(SseParser, MultiLineData) {
  const Parsed p = parse_whole(test::kMultiLine);
  ASSERT_EQ(p.events.size(), 3u);
  EXPECT_EQ(p.events[0].data, "{\"a\":\n1}");
  EXPECT_EQ(p.events[1].data, "first\n\nthird");
  EXPECT_EQ(p.events[2].data, "[DONE]\nnot done");
  EXPECT_FALSE(p.events[2].is_done);
}

TEST(SseParser, TrailingUnterminatedEvent) {
  const Parsed p = parse_whole(test::kTrailing);
  ASSERT_EQ(p.events.size(), 1u);
  EXPECT_EQ(p.unterminated, "data: {\"choices\":[{\"delta\":{\"content\":\"y");
}

TEST(SseParser, BomAndMixedEndings) {
  const Parsed p = parse_whole(test::kMixed);
  ASSERT_EQ(p.events.size(), 5u);
  EXPECT_EQ(p.events[0].raw, "\xEF\xBB\xBF" "data: bom\r\n\n");
  EXPECT_EQ(p.events[0].data, "bom");
  EXPECT_EQ(p.events[1].raw, "\n");
  EXPECT_EQ(p.events[2].raw, "\r\n");
  EXPECT_EQ(p.events[3].raw, "data: x\rdata: y\n\r");
  EXPECT_EQ(p.events[3].data, "x\ny");
  // Ended by a final CR: reported by finish(), not by the feed.
  EXPECT_EQ(p.events[4].raw, "data: z\r\n\r");
  EXPECT_EQ(p.events[4].data, "z");
  EXPECT_EQ(p.unterminated, "");
}

TEST(SseParser, BomOnlyAtTheStartOfTheStream) {
  const Parsed p = parse_whole("data: a\n\n\xEF\xBB\xBF" "data: b\n\n");
  ASSERT_EQ(p.events.size(), 2u);
  EXPECT_FALSE(p.events[1].has_data);  // the field is named "\xEF\xBB\xBFdata"
  const Parsed partial = parse_whole("\xEF\xBB" "data: a\n\n");
  ASSERT_EQ(partial.events.size(), 1u);
  EXPECT_FALSE(partial.events[0].has_data);
  const Parsed bom_blank = parse_whole("\xEF\xBB\xBF\n");
  ASSERT_EQ(bom_blank.events.size(), 1u);  // after the BOM, a blank line
}

// Chunk invariance: any split of the bytes gives the events of the whole, and the events' raw
// bytes plus the unterminated tail give back the input.
void check_invariance(const test::CorpusStream& stream) {
  SCOPED_TRACE(std::string(stream.name));
  const std::string_view input = stream.bytes;
  const Parsed whole = parse_whole(input);
  ASSERT_TRUE(whole.ok);
  ASSERT_EQ(reassemble(whole), input);
  const std::size_t n = input.size();
  for (std::size_t a = 1; a < n; ++a) {
    ASSERT_EQ(parse_split(input, {a}), whole) << "cut at " << a;
  }
  if (n <= 300) {
    for (std::size_t a = 1; a < n; ++a) {
      for (std::size_t b = a + 1; b < n; ++b) {
        ASSERT_EQ(parse_split(input, {a, b}), whole) << "cuts at " << a << ", " << b;
      }
    }
  } else {
    std::mt19937 rng(20261122);
    for (int round = 0; round < 2000; ++round) {
      const std::size_t pieces = std::uniform_int_distribution<std::size_t>(1, std::min<std::size_t>(n, 64))(rng);
      std::vector<std::size_t> cuts;
      while (cuts.size() + 1 < pieces) {
        const std::size_t cut = std::uniform_int_distribution<std::size_t>(1, n - 1)(rng);
        if (std::find(cuts.begin(), cuts.end(), cut) == cuts.end()) cuts.push_back(cut);
      }
      std::sort(cuts.begin(), cuts.end());
      ASSERT_EQ(parse_split(input, cuts), whole) << "round " << round;
    }
  }
  std::vector<std::size_t> every_byte;
  for (std::size_t a = 1; a < n; ++a) every_byte.push_back(a);
  ASSERT_EQ(parse_split(input, every_byte), whole) << "byte by byte";
}

TEST(SseParser, ChunkInvarianceOverTheCorpus) {
  std::size_t exhaustive = 0;
  for (const test::CorpusStream& stream : test::corpus()) {
    check_invariance(stream);
    if (stream.bytes.size() <= 300) ++exhaustive;
  }
  EXPECT_GE(exhaustive, 4u);  // some streams get every 3-way split
}

TEST(SseParser, RawPointsIntoTheFedBuffer) {
  const std::string buffer(test::kChatWithUsage);
  SseParser parser;
  std::size_t events = 0;
  ASSERT_TRUE(parser.feed(buffer, [&](const SseEvent& e) {
    ++events;
    EXPECT_GE(e.raw.data(), buffer.data());
    EXPECT_LE(e.raw.data() + e.raw.size(), buffer.data() + buffer.size());
    // Single-line data is a view into raw, not a copy.
    EXPECT_GE(e.data.data(), e.raw.data());
    EXPECT_LE(e.data.data() + e.data.size(), e.raw.data() + e.raw.size());
  }));
  EXPECT_EQ(events, 7u);
  EXPECT_EQ(parser.pending_bytes(), 0u);
}

TEST(SseParser, OnlyEventsSpanningFeedsAreCopied) {
  SseParser parser;
  const std::string first = "data: a\n\ndata: b";
  const std::string second = "\n\ndata: c\n\n";
  std::vector<const char*> starts;
  const auto on_event = [&](const SseEvent& e) { starts.push_back(e.raw.data()); };
  ASSERT_TRUE(parser.feed(first, on_event));
  EXPECT_EQ(parser.pending_bytes(), 7u);
  EXPECT_EQ(parser.unterminated(), "data: b");
  ASSERT_TRUE(parser.feed(second, on_event));
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts[0], first.data());
  EXPECT_TRUE(starts[1] < second.data() || starts[1] >= second.data() + second.size());
  EXPECT_TRUE(starts[1] < first.data() || starts[1] >= first.data() + first.size());
  EXPECT_EQ(starts[2], second.data() + 2);
  EXPECT_EQ(parser.pending_bytes(), 0u);
}

TEST(SseParser, MaxEventBytes) {
  const std::string event32 = "data: " + std::string(24, 'x') + "\n\n";
  ASSERT_EQ(event32.size(), 32u);
  const Parsed fits = parse_split(event32 + event32, {}, 32);
  EXPECT_TRUE(fits.ok);
  EXPECT_EQ(fits.events.size(), 2u);

  const std::string event33 = "data: " + std::string(25, 'x') + "\n\n";
  const Parsed whole = parse_split(event32 + event33 + event32, {}, 32);
  EXPECT_FALSE(whole.ok);
  ASSERT_EQ(whole.events.size(), 1u);  // events before the oversized one were reported
  for (std::size_t cut = 1; cut < 97; ++cut) {
    const Parsed split = parse_split(event32 + event33 + event32, {cut}, 32);
    EXPECT_EQ(split, whole) << cut;
  }

  SseParser parser(32);
  const auto ignore = [](const SseEvent&) {};
  ASSERT_TRUE(parser.feed(std::string(20, 'x'), ignore));
  EXPECT_EQ(parser.pending_bytes(), 20u);
  ASSERT_TRUE(parser.feed(std::string(12, 'x'), ignore));
  EXPECT_EQ(parser.pending_bytes(), 32u);
  const Result<void> over = parser.feed("x", ignore);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, Error::upstream_error);
  EXPECT_EQ(over.error().message, "upstream event too large");
  EXPECT_EQ(parser.pending_bytes(), 0u);
  EXPECT_FALSE(parser.feed("\n\n", ignore));  // a failed parser stays failed
}

TEST(SseParser, PendingBytesAcrossAnEvent) {
  SseParser parser;
  std::size_t events = 0;
  const auto count = [&](const SseEvent&) { ++events; };
  ASSERT_TRUE(parser.feed("data: {\"a\"", count));
  EXPECT_EQ(parser.pending_bytes(), 10u);
  ASSERT_TRUE(parser.feed(":1}\n", count));
  EXPECT_EQ(parser.pending_bytes(), 14u);
  ASSERT_TRUE(parser.feed("\ndata", count));
  EXPECT_EQ(events, 1u);
  EXPECT_EQ(parser.pending_bytes(), 4u);
}

TEST(SseParser, LargeEventReleasesItsBuffer) {
  SseParser parser;
  const std::string big = "data: " + std::string(100'000, 'x');
  std::size_t events = 0;
  const auto count = [&](const SseEvent& e) {
    ++events;
    EXPECT_EQ(e.data.size(), 100'000u);
  };
  ASSERT_TRUE(parser.feed(big, count));
  EXPECT_EQ(parser.pending_bytes(), big.size());
  ASSERT_TRUE(parser.feed("\n\n", count));
  EXPECT_EQ(events, 1u);
  EXPECT_EQ(parser.pending_bytes(), 0u);
}

TEST(SseParser, EmptyFeedsAndConstCallback) {
  SseParser parser;
  std::size_t events = 0;
  const auto count = [&](const SseEvent&) { ++events; };
  ASSERT_TRUE(parser.feed("", count));
  ASSERT_TRUE(parser.feed("data: x\n", count));
  ASSERT_TRUE(parser.feed("", count));
  ASSERT_TRUE(parser.feed("\n", count));
  EXPECT_EQ(events, 1u);
}

}  // namespace
}  // namespace tollgate::stream
