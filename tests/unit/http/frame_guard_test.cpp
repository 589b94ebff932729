#include "h2_frame_guard.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tollgate::http {
namespace {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

Bytes frame(std::uint8_t type, std::uint8_t flags, std::uint32_t length) {
  Bytes out(9 + std::size_t{length}, 0);
  out[0] = static_cast<std::uint8_t>(length >> 16);
  out[1] = static_cast<std::uint8_t>(length >> 8);
  out[2] = static_cast<std::uint8_t>(length);
  out[3] = type;
  out[4] = flags;
  out[8] = 1;
  return out;
}

Bytes preface() {
  const std::string p = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  return Bytes(p.begin(), p.end());
}

Bytes repeat(const Bytes& one, int n) {
  Bytes out(one.size() * static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = one[i % one.size()];
  return out;
}

class FrameGuardTest : public ::testing::Test {
 protected:
  FrameGuard guard_{Http2Limits{}, 64 * 1024};
  Clock::time_point now_{};
  std::optional<Http2Protection> feed(const Bytes& bytes) { return guard_.scan(bytes, now_); }
};

TEST_F(FrameGuardTest, OrdinaryTrafficPasses) {
  EXPECT_FALSE(feed(preface()));
  EXPECT_FALSE(feed(frame(4, 0, 0)));   // SETTINGS
  EXPECT_FALSE(feed(frame(4, 1, 0)));   // SETTINGS ACK
  EXPECT_FALSE(feed(frame(1, 5, 40)));  // HEADERS END_STREAM|END_HEADERS
  EXPECT_FALSE(feed(frame(0, 1, 100)));
}

TEST_F(FrameGuardTest, FramesSplitAcrossReadsAreCounted) {
  const Bytes head = preface();
  const Bytes pings = repeat(frame(6, 0, 8), 101);
  Bytes all(head.size() + pings.size());
  std::copy(head.begin(), head.end(), all.begin());
  std::copy(pings.begin(), pings.end(), all.begin() + static_cast<std::ptrdiff_t>(head.size()));
  std::optional<Http2Protection> seen;
  for (std::size_t at = 0; at < all.size() && !seen; at += 7) {
    const Bytes piece(all.begin() + at, all.begin() + std::min(all.size(), at + 7));
    seen = feed(piece);
  }
  EXPECT_EQ(seen, Http2Protection::ping_flood);
}

TEST_F(FrameGuardTest, RapidResetTripsAfterTheBound) {
  feed(preface());
  EXPECT_FALSE(feed(repeat(frame(3, 0, 4), 200)));
  EXPECT_EQ(feed(frame(3, 0, 4)), Http2Protection::rapid_reset);
}

TEST_F(FrameGuardTest, TheIntervalResetsTheCounts) {
  feed(preface());
  EXPECT_FALSE(feed(repeat(frame(3, 0, 4), 200)));
  now_ += std::chrono::seconds(10);
  EXPECT_FALSE(feed(repeat(frame(3, 0, 4), 200)));
}

TEST_F(FrameGuardTest, ContinuationFloodTrips) {
  feed(preface());
  EXPECT_FALSE(feed(frame(1, 0, 10)));  // HEADERS without END_HEADERS
  EXPECT_FALSE(feed(repeat(frame(9, 0, 10), 8)));
  EXPECT_EQ(feed(frame(9, 0, 10)), Http2Protection::continuation_flood);
}

TEST_F(FrameGuardTest, AnEndedHeaderBlockStartsAFreshCount) {
  feed(preface());
  for (int i = 0; i < 5; ++i) {
    EXPECT_FALSE(feed(frame(1, 0, 10)));
    EXPECT_FALSE(feed(repeat(frame(9, 0, 10), 7)));
    EXPECT_FALSE(feed(frame(9, 4, 10)));  // END_HEADERS
  }
}

TEST_F(FrameGuardTest, AHugeHeaderBlockTrips) {
  feed(preface());
  EXPECT_FALSE(feed(frame(1, 0, 16384)));
  EXPECT_FALSE(feed(repeat(frame(9, 0, 16384), 3)));
  EXPECT_EQ(feed(frame(9, 0, 16384)), Http2Protection::header_list_too_large);
}

TEST_F(FrameGuardTest, SettingsFloodTripsButAcksDoNotCount) {
  feed(preface());
  EXPECT_FALSE(feed(repeat(frame(4, 1, 0), 500)));
  EXPECT_FALSE(feed(repeat(frame(4, 0, 0), 100)));
  EXPECT_EQ(feed(frame(4, 0, 0)), Http2Protection::settings_flood);
}

}  // namespace
}  // namespace tollgate::http
