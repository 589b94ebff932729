#pragma once
// Runs load_gen's open-loop schedule on one io_context (the calling thread): request i is due at
// start + i / rate and goes out on the first free keep-alive connection; its latency counts from
// when it was due, so time spent waiting for a free connection is part of it.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"

namespace load_gen {

// One kind of error: how many requests failed that way and the first one's message.
struct ErrorCount {
  std::uint64_t count = 0;
  std::string example;
};

struct Report {
  std::uint64_t scheduled = 0;  // requests due within the duration (or --requests)
  std::uint64_t sent = 0;       // requests written, or attempted (a failed connect counts)
  std::uint64_t ok = 0;         // 2xx answers read in full
  std::uint64_t errors = 0;     // scheduled - ok: failed, timed out, unfinished or never sent
  std::uint64_t late = 0;       // requests sent more than 1 ms after they were due (no free connection)
  std::map<std::string, ErrorCount> error_kinds;  // "connect", "read", "status 503", "timeout", ...
  std::vector<std::uint32_t> latencies_us;        // one per ok request, from its due time; sorted
  std::chrono::microseconds wall{0};              // from the first due time to the last answer
};

// Blocks until every scheduled request has been answered or has failed, or until duration +
// grace has passed (then what is unsent or unanswered counts as errors). Never throws for
// network errors; they are errors in the report.
Report run_open_loop(const Options& options);

// The p-th percentile (0..100, nearest rank) of sorted values; 0 when empty.
std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p);

}  // namespace load_gen
