#pragma once
// Runs the benchmark's concurrent streams on one io_context (the calling thread) and collects
// what every stream saw: its outcome and the delivery latency of each content chunk.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"

namespace stream_bench {

// One kind of failure: how many streams failed that way and the first one's message.
struct FailureCount {
  unsigned count = 0;
  std::string example;
};

struct RunReport {
  unsigned streams = 0;
  unsigned ok = 0;      // status 200, T content chunks, [DONE], no error event, clean end
  unsigned failed = 0;  // everything else, including streams unfinished at the deadline
  std::map<std::string, FailureCount> failures;  // by kind ("connect", "read", "deadline", ...)
  std::uint64_t content_chunks = 0;  // over all streams, failed ones included
  std::uint64_t other_events = 0;    // role, finish, usage, error and [DONE] events
  std::uint64_t unstamped_chunks = 0;  // content chunks without "mock_sent_us"
  std::vector<std::uint32_t> latencies_us;  // one per stamped content chunk, sorted
  unsigned peak_concurrent = 0;      // streams connected and not yet ended, at most
  std::chrono::milliseconds wall{0};  // from the first connect to the last stream's end
};

// Blocks until every stream has ended or options.deadline has passed (then the unfinished
// streams count as failed, kind "deadline"). Never throws for network errors; they are
// failures in the report.
RunReport run_load(const Options& options);

// The p-th percentile (0..100, nearest rank) of sorted values; 0 when empty.
std::uint32_t percentile(const std::vector<std::uint32_t>& sorted, double p);

}  // namespace stream_bench
