#pragma once
// Command-line options of stream_bench, the streaming load client of the issue-3 benchmark.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace stream_bench {

struct Options {
  std::string host = "127.0.0.1";   // loopback only: the benchmark compares processes on one machine
  std::uint16_t port = 0;           // required (--target)
  std::string path = "/v1/chat/completions";
  std::string key;                  // empty: no Authorization header (direct-to-mock runs)
  std::string model = "bench-chat";
  unsigned streams = 100;
  unsigned completion_tokens = 100;  // mock.completion_tokens: content chunks per stream
  unsigned chunk_delay_ms = 50;      // mock.chunk_delay_ms
  std::chrono::milliseconds ramp{2000};     // stream i starts at i * ramp / streams
  std::chrono::seconds deadline{60};        // the whole run stops after this, finished or not
  bool self_check = false;  // check the SSE scanner and exit
  bool help = false;
};

// Bad command line; the message names the offending flag.
class OptionsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv[1..]; throws OptionsError on an unknown flag, a bad value or a missing --target.
Options parse_options(const std::vector<std::string>& args);

std::string usage_text();

}  // namespace stream_bench
