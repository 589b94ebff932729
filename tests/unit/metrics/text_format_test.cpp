#include "tollgate/metrics/text_format.hpp"

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
