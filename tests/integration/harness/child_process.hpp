#pragma once
// Test harness: a child process with its stdout and stderr captured line by line, so tests
// can wait for "listening" lines with a deadline. Stopped only by its own PID.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace tollgate::testing {

class ChildProcess {
 public:
  // Starts `argv` with the current environment plus `env` (name -> value; an empty value
  // unsets the name). Throws std::runtime_error if the process cannot be started.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~ChildProcess();  // SIGKILLs the child if still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Waits until a line of stdout or stderr matches `pattern`; returns the match groups
  // (index 0 is the whole match).
  std::optional<std::vector<std::string>> wait_for_line(const std::regex& pattern, std::chrono::milliseconds timeout);

  // Everything the child wrote so far (stdout and stderr interleaved by line).
  std::string output() const;

  // Sends `signal` and waits for the exit. Returns the exit code (128+N for a signal death),
  // or nullopt if it did not exit within `timeout`.
  std::optional<int> stop(int signal, std::chrono::milliseconds timeout);
  // Waits for the child to exit on its own; once it has, output() holds everything it wrote.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  void read_loop(int fd);

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
  std::vector<std::thread> readers_;
};

}  // namespace tollgate::testing
