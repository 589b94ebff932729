#pragma once
// One-line stderr logging for the mock upstream; independent of the gateway's logger on purpose
// so the system under test and its test double share no code.
#include <string>
#include <string_view>

#include <unistd.h>

namespace mock_upstream {

// Thread-safe: the whole line goes out in one write(2), so lines from workers never interleave.
inline void log_line(std::string_view message) {
  std::string line = "mock_upstream: ";
  line.append(message);
  line.push_back('\n');
  [[maybe_unused]] auto written = ::write(2, line.data(), line.size());
}

}  // namespace mock_upstream
