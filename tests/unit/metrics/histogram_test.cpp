#include "tollgate/metrics/histogram.hpp"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace tollgate::metrics {
namespace {

TEST(Histogram, ValueEqualToABoundLandsInThatBucket) {
  for (std::size_t i = 0; i < kLatencyBoundsNs.size(); ++i) {
    LatencyHistogram h;
    h.observe_ns(kLatencyBoundsNs[i]);
    EXPECT_EQ(h.bucket_count(i), 1u) << "bound " << i;
    h.observe_ns(kLatencyBoundsNs[i] + 1);
    EXPECT_EQ(h.bucket_count(i + 1), 1u) << "just above bound " << i;
  }
}

TEST(Histogram, SecondsEqualToABoundLandInThatBucketDespiteDoubleRounding) {
  const double overhead_bounds[] = {5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
                                    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1};
  for (std::size_t i = 0; i < std::size(overhead_bounds); ++i) {
    OverheadHistogram h;
    h.observe(overhead_bounds[i]);
    EXPECT_EQ(h.bucket_count(i), 1u) << overhead_bounds[i];
  }
  const double latency_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                   2.5, 5, 10, 30, 60, 120, 300, 600};
  for (std::size_t i = 0; i < std::size(latency_bounds); ++i) {
    LatencyHistogram h;
    h.observe(latency_bounds[i]);
    EXPECT_EQ(h.bucket_count(i), 1u) << latency_bounds[i];
  }
}

TEST(Histogram, AboveTheLastBoundGoesToInfAndNegativeOrNanToTheFirst) {
  LatencyHistogram h;
  h.observe(600.000001);
  h.observe(std::numeric_limits<double>::infinity());
  h.observe(-1);
  h.observe(std::nan(""));
  h.observe(0);
  EXPECT_EQ(h.bucket_count(kLatencyBoundsNs.size()), 2u);
  EXPECT_EQ(h.bucket_count(0), 3u);
  EXPECT_EQ(h.count(), 5u);
}

TEST(Histogram, RendersCumulativeBucketsSumAndCount) {
  OverheadHistogram h;
  h.observe(4e-6);      // le 0.000005
  h.observe(5e-6);      // le 0.000005
  h.observe(0.00003);   // le 0.00005
  h.observe(0.02);      // le 0.025
  h.observe(1.5);       // +Inf
  std::string out;
  h.render(out, "x", {});
  EXPECT_EQ(out,
            "x_bucket{le=\"0.000005\"} 2\n"
            "x_bucket{le=\"0.00001\"} 2\n"
            "x_bucket{le=\"0.000025\"} 2\n"
            "x_bucket{le=\"0.00005\"} 3\n"
            "x_bucket{le=\"0.0001\"} 3\n"
            "x_bucket{le=\"0.00025\"} 3\n"
            "x_bucket{le=\"0.0005\"} 3\n"
            "x_bucket{le=\"0.001\"} 3\n"
            "x_bucket{le=\"0.0025\"} 3\n"
            "x_bucket{le=\"0.005\"} 3\n"
            "x_bucket{le=\"0.01\"} 3\n"
            "x_bucket{le=\"0.025\"} 4\n"
            "x_bucket{le=\"0.1\"} 4\n"
            "x_bucket{le=\"+Inf\"} 5\n"
            "x_sum 1.520039\n"
            "x_count 5\n");
}

TEST(Histogram, LabelsComeBeforeLe) {
  LatencyHistogram h;
  h.observe(0.3);
  std::string out;
  const Label provider{"provider", "open\"ai"};
  h.render(out, "t", std::span<const Label>(&provider, 1));
  EXPECT_NE(out.find("t_bucket{provider=\"open\\\"ai\",le=\"0.5\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_bucket{provider=\"open\\\"ai\",le=\"600\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_sum{provider=\"open\\\"ai\"} 0.3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_count{provider=\"open\\\"ai\"} 1\n"), std::string::npos) << out;
}

TEST(Histogram, SumStaysExactPastTwoToTheSixtyFourNanoseconds) {
  LatencyHistogram a;
  LatencyHistogram b;
  for (int i = 0; i < 3; ++i) a.observe_ns(kMaxObservationNs);  // 3 * 2^62 ns
  b.observe_ns(kMaxObservationNs);
  b.observe_ns(1);
  a.merge(b);  // 2^64 + 1 ns
  std::string out;
  a.render(out, "x", {});
  EXPECT_NE(out.find("x_sum 18446744073.709551617\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_count 5\n"), std::string::npos) << out;
}

TEST(Histogram, MergeAddsBucketsAndSums) {
  LatencyHistogram a;
  LatencyHistogram b;
  LatencyHistogram both;
  for (const double s : {0.001, 0.7, 42.0}) {
    a.observe(s);
    both.observe(s);
  }
  for (const double s : {0.7, 1000.0}) {
    b.observe(s);
    both.observe(s);
  }
  a.merge(b);
  std::string merged;
  std::string single;
  a.render(merged, "x", {});
  both.render(single, "x", {});
  EXPECT_EQ(merged, single);
  EXPECT_EQ(a.count(), 5u);
}

}  // namespace
}  // namespace tollgate::metrics
