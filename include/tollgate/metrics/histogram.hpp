#pragma once
// Metrics stage: fixed-bucket latency histograms (Prometheus `_bucket{le}`, `_sum`, `_count`).
// Observing costs a rounding, a search over at most 16 integers and three additions: no
// allocation, no lock, no atomic. A histogram belongs to one thread (a worker's Shard);
// other threads see it only as a copy taken on that thread.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tollgate/metrics/text_format.hpp"

namespace tollgate::metrics {

inline constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;

// Bucket upper bounds in integer nanoseconds, ascending; a `+Inf` bucket follows the last.
// Integers so that an observation equal to a bound lands in that bucket (`le` is inclusive)
// without double rounding, and so that `le` renders exactly ("0.000005", "2.5").
//
// tollgate_overhead_seconds: time in the gateway itself, 5 µs to 100 ms.
inline constexpr std::array<std::uint64_t, 13> kOverheadBoundsNs{
    5'000,      10'000,     25'000,     50'000,      100'000,     250'000,    500'000,
    1'000'000,  2'500'000,  5'000'000,  10'000'000,  25'000'000,  100'000'000};
// tollgate_request_duration_seconds and tollgate_upstream_ttft_seconds: 5 ms to 10 minutes.
inline constexpr std::array<std::uint64_t, 16> kLatencyBoundsNs{
    5'000'000,       10'000'000,      25'000'000,      50'000'000,
    100'000'000,     250'000'000,     500'000'000,     1'000'000'000,
    2'500'000'000,   5'000'000'000,   10'000'000'000,  30'000'000'000,
    60'000'000'000,  120'000'000'000, 300'000'000'000, 600'000'000'000};

// Observations are clamped to [0, kMaxObservationNs] (about 146 years), which keeps the
// nanosecond part of the sum from overflowing before it is folded into whole seconds.
inline constexpr std::uint64_t kMaxObservationNs = std::uint64_t{1} << 62;

// Seconds to whole nanoseconds, rounded to nearest; negative and NaN give 0.
inline std::uint64_t seconds_to_ns(double seconds) {
  if (!(seconds > 0)) return 0;
  constexpr double kMaxSeconds = static_cast<double>(kMaxObservationNs) / 1e9;
  if (seconds >= kMaxSeconds) return kMaxObservationNs;
  return std::min(static_cast<std::uint64_t>(seconds * 1e9 + 0.5), kMaxObservationNs);
}

// Appends the `_bucket` (cumulative, then `+Inf`), `_sum` and `_count` samples of one series;
// `labels` come before `le`. `counts` holds bounds.size() + 1 per-bucket (not cumulative) counts.
void write_histogram_samples(std::string& out, std::string_view name, std::span<const Label> labels,
                             std::span<const std::uint64_t> bounds_ns,
                             std::span<const std::uint64_t> counts, std::uint64_t sum_whole_s,
                             std::uint64_t sum_ns);

template <const auto& kBoundsNs>
class Histogram {
 public:
  static constexpr std::size_t kBuckets = kBoundsNs.size() + 1;  // the last is +Inf

  void observe(double seconds) { observe_ns(seconds_to_ns(seconds)); }

  void observe_ns(std::uint64_t ns) {
    ns = std::min(ns, kMaxObservationNs);
    const auto bound = std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns);
    ++counts_[static_cast<std::size_t>(bound - kBoundsNs.begin())];
    sum_ns_ += ns;
    fold();
  }

  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
    sum_whole_s_ += other.sum_whole_s_;
    sum_ns_ += other.sum_ns_;
    fold();
  }

  // Observations in bucket `i` alone (not cumulative); i == bounds().size() is +Inf.
  std::uint64_t bucket_count(std::size_t i) const { return counts_[i]; }

  std::uint64_t count() const {
    std::uint64_t total = 0;
    for (const std::uint64_t c : counts_) total += c;
    return total;
  }

  static constexpr std::span<const std::uint64_t> bounds() { return kBoundsNs; }

  // Appends this series' samples (no HELP/TYPE lines) as `name_bucket`, `name_sum`, `name_count`.
  void render(std::string& out, std::string_view name, std::span<const Label> labels) const {
    write_histogram_samples(out, name, labels, kBoundsNs, counts_, sum_whole_s_, sum_ns_);
  }

 private:
  // Keeps sum_ns_ below 2^62 so that adding one observation (or another histogram's
  // sum_ns_) cannot overflow; the branch is almost never taken.
  void fold() {
    if (sum_ns_ >= kMaxObservationNs) {
      sum_whole_s_ += sum_ns_ / kNanosPerSecond;
      sum_ns_ %= kNanosPerSecond;
    }
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t sum_whole_s_ = 0;  // sum = sum_whole_s_ seconds + sum_ns_ nanoseconds
  std::uint64_t sum_ns_ = 0;
};

using OverheadHistogram = Histogram<kOverheadBoundsNs>;
using LatencyHistogram = Histogram<kLatencyBoundsNs>;

}  // namespace tollgate::metrics
