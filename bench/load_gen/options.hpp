#pragma once
// Command-line options of load_gen, the open-loop load client of the issue-8 benchmark.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace load_gen {

struct Options {
  std::string host = "127.0.0.1";   // loopback only: the benchmark compares processes on one machine
  std::uint16_t port = 0;           // required (--target)
  std::string method = "POST";
  std::string path = "/v1/chat/completions";
  std::string body;                            // sent as is, with Content-Length (--body or --body-file)
  std::vector<std::string> headers;            // "Name: value", in order
  double rate = 0;                             // requests/s, required (--rate)
  unsigned connections = 64;
  std::chrono::milliseconds duration{5000};    // requests are scheduled over this long
  std::uint64_t requests = 0;                  // when set: this many requests (duration = requests / rate)
  std::chrono::milliseconds timeout{10000};    // one request, from its send; then it is an error
  std::chrono::milliseconds grace{10000};      // after the schedule ends, for late requests to finish
  bool json = false;                           // print one JSON object instead of "key value" lines
  bool help = false;
};

// Bad command line; the message names the offending flag.
class OptionsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv[1..]; throws OptionsError on an unknown flag, a bad value or a missing
// --target / --rate.
Options parse_options(const std::vector<std::string>& args);

std::string usage_text();

}  // namespace load_gen
