// stream_bench: flags -> run the streams -> print the report (issue 3's streaming benchmark).
#include <cstdio>
#include <string>
#include <vector>

#include "load_run.hpp"
#include "options.hpp"
#include "sse_scan.hpp"

namespace {

void print_report(const stream_bench::Options& options, const stream_bench::RunReport& report) {
  using stream_bench::percentile;
  const auto& lat = report.latencies_us;
  std::printf("stream_bench: %u streams to 127.0.0.1:%u%s (%u chunks, %u ms apart, ramp %lld ms)\n",
              report.streams, options.port, options.path.c_str(), options.completion_tokens,
              options.chunk_delay_ms, static_cast<long long>(options.ramp.count()));
  std::printf("streams: ok %u, failed %u, peak concurrent %u\n", report.ok, report.failed,
              report.peak_concurrent);
  std::printf("chunks: content %llu (unstamped %llu), other events %llu\n",
              static_cast<unsigned long long>(report.content_chunks),
              static_cast<unsigned long long>(report.unstamped_chunks),
              static_cast<unsigned long long>(report.other_events));
  std::printf("per-chunk latency (us, n=%zu): p50 %u  p90 %u  p99 %u  max %u\n", lat.size(),
              percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), lat.empty() ? 0 : lat.back());
  std::printf("wall: %.2f s\n", static_cast<double>(report.wall.count()) / 1000.0);
  for (const auto& [kind, failure] : report.failures) {
    std::printf("failed: %u x %s (first: %s)\n", failure.count, kind.c_str(), failure.example.c_str());
  }
  std::printf("summary streams=%u ok=%u failed=%u chunks=%llu p50_us=%u p90_us=%u p99_us=%u max_us=%u "
              "wall_ms=%lld peak_concurrent=%u\n",
              report.streams, report.ok, report.failed,
              static_cast<unsigned long long>(report.content_chunks), percentile(lat, 50),
              percentile(lat, 90), percentile(lat, 99), lat.empty() ? 0 : lat.back(),
              static_cast<long long>(report.wall.count()), report.peak_concurrent);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  stream_bench::Options options;
  try {
    options = stream_bench::parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const stream_bench::OptionsError& e) {
    std::fprintf(stderr, "stream_bench: %s\n%s", e.what(), stream_bench::usage_text().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(stream_bench::usage_text().c_str(), stdout);
    return 0;
  }
  if (options.self_check) return stream_bench::self_check() ? 0 : 1;
  const stream_bench::RunReport report = stream_bench::run_load(options);
  print_report(options, report);
  return report.failed == 0 ? 0 : 1;
}
