#include "tollgate/metrics/text_format.hpp"

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace tollgate::metrics {
namespace {

TEST(TextFormat, FamilyWithHelpTypeAndLabelledSamples) {
  std::string out;
  write_family(out, "tollgate_usage_events_total", "Usage events by sink and result.", Type::counter,
               {{{{"sink", "file"}, {"result", "delivered"}}, 12}, {{{"sink", "file"}, {"result", "dropped"}}, 0}});
  write_family(out, "tollgate_usage_spool_bytes", "Bytes in the spool.", Type::gauge, {{{}, 42}});
  EXPECT_EQ(out,
            "# HELP tollgate_usage_events_total Usage events by sink and result.\n"
            "# TYPE tollgate_usage_events_total counter\n"
            "tollgate_usage_events_total{sink=\"file\",result=\"delivered\"} 12\n"
            "tollgate_usage_events_total{sink=\"file\",result=\"dropped\"} 0\n"
            "# HELP tollgate_usage_spool_bytes Bytes in the spool.\n"
            "# TYPE tollgate_usage_spool_bytes gauge\n"
            "tollgate_usage_spool_bytes 42\n");
}

TEST(TextFormat, LabelValuesAreEscaped) {
  std::string out;
  write_family(out, "m", "h", Type::gauge, {{{{"l", "a\"b\\c\nd"}}, 1}});
  EXPECT_NE(out.find("m{l=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << out;
}

}  // namespace
}  // namespace tollgate::metrics

namespace tollgate::metrics {
namespace {

TEST(TextFormat, HistogramTypeLine) {
  std::string out;
  write_header(out, "h_seconds", "Help.", Type::histogram);
  EXPECT_EQ(out, "# HELP h_seconds Help.\n# TYPE h_seconds histogram\n");
}

TEST(TextFormat, GaugeFamilyWithDoubleValues) {
  std::string out;
  write_gauge_family(out, "tollgate_budget_used_ratio", "Budget used.",
                     {{{{"tenant", "acme"}, {"window", "day"}}, 0.5},
                      {{{"tenant", "acme"}, {"window", "month"}}, 0.1},
                      {{{"tenant", "b"}, {"window", "day"}}, 1.0 / 3},
                      {{{"tenant", "c"}, {"window", "day"}}, 1e-5},
                      {{{"tenant", "d"}, {"window", "day"}}, 2},
                      {{}, std::nan("")},
                      {{}, std::numeric_limits<double>::infinity()},
                      {{}, -std::numeric_limits<double>::infinity()}});
  EXPECT_EQ(out,
            "# HELP tollgate_budget_used_ratio Budget used.\n"
            "# TYPE tollgate_budget_used_ratio gauge\n"
            "tollgate_budget_used_ratio{tenant=\"acme\",window=\"day\"} 0.5\n"
            "tollgate_budget_used_ratio{tenant=\"acme\",window=\"month\"} 0.1\n"
            "tollgate_budget_used_ratio{tenant=\"b\",window=\"day\"} 0.3333333333333333\n"
            "tollgate_budget_used_ratio{tenant=\"c\",window=\"day\"} 1e-05\n"
            "tollgate_budget_used_ratio{tenant=\"d\",window=\"day\"} 2\n"
            "tollgate_budget_used_ratio NaN\n"
            "tollgate_budget_used_ratio +Inf\n"
            "tollgate_budget_used_ratio -Inf\n");
}

TEST(TextFormat, DoublesRoundTrip) {
  for (const double v : {0.1, 1.0 / 3, 123456.789, 1e-300, 1.7976931348623157e308, -2.5}) {
    std::string text;
    append_double(text, v);
    EXPECT_EQ(std::stod(text), v) << text;
  }
}

TEST(TextFormat, NanoDecimalIsExact) {
  const auto text = [](std::uint64_t whole, std::uint32_t nanos) {
    std::string out;
    append_nano_decimal(out, whole, nanos);
    return out;
  };
  EXPECT_EQ(text(0, 0), "0");
  EXPECT_EQ(text(0, 261600), "0.0002616");
  EXPECT_EQ(text(0, 1), "0.000000001");
  EXPECT_EQ(text(2, 500000000), "2.5");
  EXPECT_EQ(text(600, 0), "600");
  EXPECT_EQ(text(18446744073709551615ULL, 999999999), "18446744073709551615.999999999");
}

}  // namespace
}  // namespace tollgate::metrics
