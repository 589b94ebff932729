#include "tollgate/metrics/histogram.hpp"

namespace tollgate::metrics {

namespace {

void append_ns_as_seconds(std::string& out, std::uint64_t whole_s, std::uint64_t ns) {
  append_nano_decimal(out, whole_s + ns / kNanosPerSecond,
                      static_cast<std::uint32_t>(ns % kNanosPerSecond));
}

}  // namespace

void write_histogram_samples(std::string& out, std::string_view name, std::span<const Label> labels,
                             std::span<const std::uint64_t> bounds_ns,
                             std::span<const std::uint64_t> counts, std::uint64_t sum_whole_s,
                             std::uint64_t sum_ns) {
  const std::string bucket_name = std::string(name) + "_bucket";
  Labels with_le(labels.begin(), labels.end());
  with_le.emplace_back("le", "");
  std::string le;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    le.clear();
    if (i < bounds_ns.size()) {
      append_ns_as_seconds(le, 0, bounds_ns[i]);
    } else {
      le = "+Inf";
    }
    with_le.back().second = le;
    write_sample(out, bucket_name, with_le, std::to_string(cumulative));
  }
  std::string sum;
  append_ns_as_seconds(sum, sum_whole_s, sum_ns);
  write_sample(out, std::string(name) + "_sum", labels, sum);
  write_sample(out, std::string(name) + "_count", labels, std::to_string(cumulative));
}

}  // namespace tollgate::metrics
