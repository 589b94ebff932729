#include "tollgate/core/timestamp.hpp"

#include <gtest/gtest.h>

#include "tollgate/core/digits.hpp"

namespace tollgate {
namespace {

using namespace std::chrono;

TEST(Timestamp, MillisecondsArePaddedAndUtc) {
  const sys_days day = year{2026} / November / 2;
  EXPECT_EQ(rfc3339_ms(day + hours{3} + minutes{4} + seconds{5} + milliseconds{6}), "2026-11-02T03:04:05.006Z");
  EXPECT_EQ(rfc3339_ms(day), "2026-11-02T00:00:00.000Z");
  EXPECT_EQ(rfc3339_ms(sys_days{year{1999} / December / 31} + hours{23} + minutes{59} + seconds{59} +
                       milliseconds{999} + microseconds{999}),
            "1999-12-31T23:59:59.999Z");  // truncated, never rounded into the next day
}

TEST(Timestamp, SecondsFormHasNoFraction) {
  EXPECT_EQ(rfc3339(sys_days{year{2026} / February / 28} + hours{23} + minutes{59} + seconds{59}),
            "2026-02-28T23:59:59Z");
  EXPECT_EQ(rfc3339(sys_seconds{seconds{0}}), "1970-01-01T00:00:00Z");
}

TEST(Timestamp, AppendsToWhatIsAlreadyThere) {
  std::string out = "ts=";
  append_rfc3339_ms(out, sys_days{year{2030} / January / 1});
  EXPECT_EQ(out, "ts=2030-01-01T00:00:00.000Z");
}

TEST(Digits, HexAndDecimalAreZeroPaddedToTheirWidth) {
  std::string out;
  append_hex(out, 0xabc, 8);
  out += '|';
  append_hex(out, 0x123456789abcdef0ULL, 4);  // the low digits only
  out += '|';
  append_decimal(out, 7, 3);
  out += '|';
  append_decimal(out, 2026, 4);
  EXPECT_EQ(out, "00000abc|def0|007|2026");
}

}  // namespace
}  // namespace tollgate
