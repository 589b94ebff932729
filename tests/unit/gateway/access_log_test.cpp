// The access log: the exact line, and AccessLog writing it to a file (rotated), to stderr
// (shared with the process log) or nowhere, from several workers, quickly, losing nothing on close.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tollgate/gateway/access_log.hpp"
#include "support/temp_dir.hpp"
#include "tollgate/core/log.hpp"
#include "unit/usage/file_sink_test_support.hpp"

namespace tollgate::gateway {
namespace {

using namespace std::chrono;
using testing::poll_until;
using testing::read_file;
using testing::split_lines;
using testing::TempDir;

// Every member of an access line, in order: names, prefixes and numbers only.
const std::vector<std::string> kFieldNames = {
    "ts", "level", "msg", "request_id", "tenant", "key", "key_prefix", "route", "model_requested", "model",
    "status", "error", "stream", "outcome", "token_source", "input_tokens", "output_tokens", "cost_nano_usd",
    "latency_ms", "ttft_ms"};

AccessRecord sample(std::string_view request_id) {
  AccessRecord r;
  r.request_id = request_id;
  r.tenant = "acme";
  r.key_name = "prod";
  r.key_prefix = "tg_a1b2c3d4";
  r.route = "/v1/chat/completions";
  r.model_requested = "gpt-4o";
  r.model = "gpt-4o-mini";
  r.status = 200;
  r.stream = true;
  r.outcome = "completed";
  r.token_source = "provider";
  r.input_tokens = Tokens{812};
  r.output_tokens = Tokens{233};
  r.cost = NanoUsd{261'600};
  r.latency_ms = 1840;
  r.ttft_ms = 210;
  return r;
}

config::LogConfig file_config(const std::string& path, std::uint64_t max_bytes = 100ull << 20) {
  config::LogConfig c;
  c.access = config::AccessLogTarget::file;
  c.access_path = path;
  c.access_max_bytes = max_bytes;
  return c;
}

config::LogConfig target(config::AccessLogTarget access) {
  config::LogConfig c;
  c.access = access;
  return c;
}

// The object's member names in order, or empty when `line` is not one JSON object.
std::vector<std::string> member_names(const std::string& line) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(simdjson::padded_string(line)).get(object)) return {};
  std::vector<std::string> out;
  for (auto field : object) out.emplace_back(field.key);
  return out;
}

// The string member `name` of the JSON object `line`; "<missing>" when absent or invalid.
std::string member(const std::string& line, std::string_view name) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view value;
  if (parser.parse(simdjson::padded_string(line)).get(root) || root[name].get(value)) return "<missing>";
  return std::string(value);
}

// Points fd 2 somewhere else for the test's duration.
class StderrRedirect {
 public:
  explicit StderrRedirect(int fd) {
    std::fflush(stderr);
    saved_ = ::dup(STDERR_FILENO);
    if (saved_ < 0 || ::dup2(fd, STDERR_FILENO) < 0) throw std::runtime_error("cannot redirect fd 2");
  }
  ~StderrRedirect() { restore(); }
  StderrRedirect(const StderrRedirect&) = delete;
  StderrRedirect& operator=(const StderrRedirect&) = delete;

  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }

 private:
  int saved_ = -1;
};

// Reads a pipe on a thread of its own until every write end is closed, noting when each
// line arrived.
class PipeReader {
 public:
  PipeReader() {
    if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    thread_ = std::thread([this] { run(); });
  }
  ~PipeReader() {
    close_write_end();
    if (thread_.joinable()) thread_.join();
    ::close(fds_[0]);
  }
  PipeReader(const PipeReader&) = delete;
  PipeReader& operator=(const PipeReader&) = delete;

  int write_end() const { return fds_[1]; }
  void close_write_end() {
    if (fds_[1] >= 0) ::close(fds_[1]);
    fds_[1] = -1;
  }
  // Waits for end of file (every write end closed).
  std::string finish() {
    close_write_end();
    thread_.join();
    return received_;
  }
  std::size_t lines() const { return lines_.load(std::memory_order_acquire); }
  // When the `n`th line (0-based) arrived; lines() must be above n.
  steady_clock::time_point arrival(std::size_t n) const {
    std::lock_guard lock(mutex_);
    return arrivals_[n];
  }

 private:
  void run() {
    char buf[65'536];
    for (;;) {
      const ssize_t n = ::read(fds_[0], buf, sizeof buf);
      if (n <= 0) break;
      const auto now = steady_clock::now();
      const std::string_view chunk(buf, static_cast<std::size_t>(n));
      received_.append(chunk);
      const auto newlines = static_cast<std::size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
      {
        std::lock_guard lock(mutex_);
        arrivals_.insert(arrivals_.end(), newlines, now);
      }
      lines_.fetch_add(newlines, std::memory_order_release);
    }
  }

  int fds_[2] = {-1, -1};
  std::string received_;  // reader thread until finish()
  mutable std::mutex mutex_;
  std::vector<steady_clock::time_point> arrivals_;
  std::atomic<std::size_t> lines_{0};
  std::thread thread_;
};

TEST(AccessLine, HasTheProcessLogShapeAndEveryFieldInOrder) {
  const auto at = sys_days{year{2026} / November / 22} + hours{10} + milliseconds{123};
  EXPECT_EQ(access_line(sample("req-1"), at),
            R"({"ts":"2026-11-22T10:00:00.123Z","level":"info","msg":"request","request_id":"req-1",)"
            R"("tenant":"acme","key":"prod","key_prefix":"tg_a1b2c3d4","route":"/v1/chat/completions",)"
            R"("model_requested":"gpt-4o","model":"gpt-4o-mini","status":"200","error":"","stream":"true",)"
            R"("outcome":"completed","token_source":"provider","input_tokens":"812","output_tokens":"233",)"
            R"("cost_nano_usd":"261600","latency_ms":"1840","ttft_ms":"210"})");
}

TEST(AccessLine, EscapesValuesAndLeavesTtftEmptyWithoutAToken) {
  AccessRecord r;
  r.request_id = "r";
  r.tenant = "a\"b\\c\nd";
  r.status = 401;
  r.error_code = "invalid_api_key";
  const auto line = access_line(r, sys_days{year{2026} / January / 2});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find(R"("tenant":"a\"b\\c\nd")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("status":"401","error":"invalid_api_key","stream":"false")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("ts":"2026-01-02T00:00:00.000Z")"), std::string::npos) << line;
  EXPECT_EQ(line.substr(line.size() - 14), R"(,"ttft_ms":""})");
  EXPECT_EQ(member_names(line), kFieldNames);
}

TEST(AccessLog, WritesTheExpectedLineToAFile) {
  TempDir dir;
  const std::string path = dir.file("logs/access.jsonl");  // the directory is created
  auto log = AccessLog::open(file_config(path), 1);
  const auto before = system_clock::now();
  log->write(0, sample("req-1"));
  log->close();
  EXPECT_EQ(log->stats().delivered, 1u);
  EXPECT_EQ(log->stats().dropped, 0u);

  const auto lines = split_lines(read_file(path));
  ASSERT_TRUE(lines.whole);
  ASSERT_EQ(lines.lines.size(), 1u);
  const std::string& line = lines.lines[0];
  // Names, prefixes and numbers only: exactly these members, so no key, hash or prompt.
  EXPECT_EQ(member_names(line), kFieldNames);
  const std::string ts = member(line, "ts");
  // Everything but the time stamp is what access_line makes.
  const std::string expected = access_line(sample("req-1"), before);
  const std::string after_ts = R"(","level")";
  EXPECT_EQ(line.substr(line.find(after_ts)), expected.substr(expected.find(after_ts)));
  EXPECT_EQ(ts.size(), 24u) << ts;
  EXPECT_EQ(member(line, "msg"), "request");
  EXPECT_EQ(member(line, "key_prefix"), "tg_a1b2c3d4");
}

TEST(AccessLog, OffWritesNothingAnywhere) {
  TempDir dir;
  const std::string stderr_path = dir.file("stderr.txt");
  const int fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  config::LogConfig config = target(config::AccessLogTarget::off);
  config.access_path = dir.file("access.jsonl");  // ignored when off
  {
    StderrRedirect redirect(fd);
    auto log = AccessLog::open(config, 2);
    log->write(0, sample("req-1"));
    log->write(1, sample("req-2"));
    log->close();
    EXPECT_EQ(log->stats().delivered, 0u);
    EXPECT_EQ(log->stats().dropped, 0u);
  }
  ::close(fd);
  EXPECT_EQ(read_file(stderr_path), "");
  EXPECT_FALSE(std::filesystem::exists(config.access_path));
}

TEST(AccessLog, RotatesAtAccessMaxBytes) {
  TempDir dir;
  const std::string path = dir.file("access.jsonl");
  const std::size_t line_size = access_line(sample("req-00"), system_clock::now()).size() + 1;
  const std::uint64_t max_bytes = 3 * line_size + line_size / 2;  // three lines per file
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back("req-" + std::to_string(10 + i));
  {
    auto log = AccessLog::open(file_config(path, max_bytes), 1);
    for (const auto& id : ids) log->write(0, sample(id));
    log->close();
    EXPECT_EQ(log->stats().delivered, ids.size());
  }
  // Oldest first: access.jsonl.1, .2, .3, then access.jsonl.
  std::vector<std::string> seen;
  const std::vector<std::string> files = {path + ".1", path + ".2", path + ".3", path};
  for (const auto& file : files) {
    ASSERT_TRUE(std::filesystem::exists(file)) << file;
    EXPECT_LE(std::filesystem::file_size(file), max_bytes) << file;
    const auto lines = split_lines(read_file(file));
    EXPECT_TRUE(lines.whole) << file;
    EXPECT_EQ(lines.lines.size(), file == path ? 1u : 3u) << file;
    for (const auto& line : lines.lines) seen.push_back(member(line, "request_id"));
  }
  EXPECT_FALSE(std::filesystem::exists(path + ".4"));
  EXPECT_EQ(seen, ids);
}

TEST(AccessLog, CloseWritesEverythingFromSeveralWorkers) {
  TempDir dir;
  const std::string path = dir.file("access.jsonl");
  constexpr std::size_t kWorkers = 4;
  constexpr std::size_t kPerWorker = 5'000;
  auto log = AccessLog::open(file_config(path), kWorkers);
  std::vector<std::thread> workers;
  for (std::size_t w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&log, w] {
      for (std::size_t n = 0; n < kPerWorker; ++n) {
        const std::string id = std::to_string(w) + "-" + std::to_string(n);
        log->write(w, sample(id));
      }
    });
  }
  for (auto& t : workers) t.join();
  log->close();
  EXPECT_EQ(log->stats().delivered, kWorkers * kPerWorker);
  EXPECT_EQ(log->stats().dropped, 0u);

  const auto lines = split_lines(read_file(path));
  ASSERT_TRUE(lines.whole);
  ASSERT_EQ(lines.lines.size(), kWorkers * kPerWorker);
  std::vector<std::size_t> next(kWorkers, 0);  // each worker's lines arrive in its order
  for (const auto& line : lines.lines) {
    const std::string id = member(line, "request_id");
    std::size_t w = 0;
    std::size_t n = 0;
    ASSERT_EQ(std::sscanf(id.c_str(), "%zu-%zu", &w, &n), 2) << line;
    ASSERT_LT(w, kWorkers);
    ASSERT_EQ(n, next[w]) << line;
    ++next[w];
  }
}

TEST(AccessLog, WriteAfterCloseIsDroppedAndCounted) {
  TempDir dir;
  auto log = AccessLog::open(file_config(dir.file("access.jsonl")), 1);
  log->close();
  log->write(0, sample("late"));
  log->close();
  EXPECT_EQ(log->stats().delivered, 0u);
  EXPECT_EQ(log->stats().dropped, 1u);
}

TEST(AccessLog, AFileThatCannotBeOpenedThrowsAtStartUp) {
  TempDir dir;
  const std::string blocker = dir.file("not-a-dir");
  std::FILE* f = std::fopen(blocker.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  const std::string path = blocker + "/access.jsonl";
  try {
    AccessLog::open(file_config(path), 1);
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("access log file sink: cannot ", 0), 0u) << message;
    EXPECT_NE(message.find(blocker), std::string::npos) << message;
  }
  EXPECT_THROW(AccessLog::open(file_config("relative/access.jsonl"), 1), std::runtime_error);
}

// fd 2 is shared with the process log: lines from both arrive whole (each write(2) of the
// access log is at most PIPE_BUF bytes of whole lines), even through a pipe that fills up.
TEST(AccessLog, OnStderrLinesNeverInterleaveWithTheProcessLog) {
  constexpr std::size_t kWorkers = 2;
  constexpr std::size_t kPerWorker = 2'000;
  constexpr std::size_t kLogLines = 2'000;
  const std::string pad(300, 'x');  // ~600-byte access lines: a batch is far more than PIPE_BUF
  PipeReader reader;
  std::string received;
  {
    StderrRedirect redirect(reader.write_end());
    {
      auto log = AccessLog::open(target(config::AccessLogTarget::stderr_stream), kWorkers);
      std::vector<std::thread> threads;
      for (std::size_t w = 0; w < kWorkers; ++w) {
        threads.emplace_back([&log, &pad, w] {
          for (std::size_t n = 0; n < kPerWorker; ++n) {
            const std::string id = std::to_string(w) + "-" + std::to_string(n);
            AccessRecord r = sample(id);
            r.route = pad;
            log->write(w, r);
          }
        });
      }
      threads.emplace_back([&pad] {
        for (std::size_t n = 0; n < kLogLines; ++n) log::warn("other", {{"pad", pad}});
      });
      for (auto& t : threads) t.join();
      log->close();
      EXPECT_EQ(log->stats().delivered, kWorkers * kPerWorker);
    }
    redirect.restore();
    received = reader.finish();
  }
  const auto lines = split_lines(received);
  EXPECT_TRUE(lines.whole);
  std::map<std::string, std::size_t> by_msg;
  for (const auto& line : lines.lines) {
    const std::string msg = member(line, "msg");
    ASSERT_NE(msg, "<missing>") << "not one whole JSON line: " << line.substr(0, 200);
    ++by_msg[msg];
  }
  EXPECT_EQ(by_msg["request"], kWorkers * kPerWorker);
  EXPECT_EQ(by_msg["other"], kLogLines);
}

// How soon after write() a line reaches stderr: the writer thread sleeps on a futex that
// write() wakes, so this is a thread wake-up, not a polling interval.
TEST(AccessLog, ALineReachesStderrWithinMilliseconds) {
  constexpr std::size_t kSamples = 200;
  PipeReader reader;
  std::vector<steady_clock::duration> latencies;
  {
    StderrRedirect redirect(reader.write_end());
    auto log = AccessLog::open(target(config::AccessLogTarget::stderr_stream), 1);
    for (std::size_t i = 0; i < kSamples; ++i) {
      // Give the writer time to fall asleep, so each sample includes its wake-up.
      std::this_thread::sleep_for(milliseconds(2));
      const auto start = steady_clock::now();
      log->write(0, sample("req"));
      ASSERT_TRUE(poll_until([&] { return reader.lines() > i; }));
      latencies.push_back(reader.arrival(i) - start);
    }
    log->close();
  }
  std::sort(latencies.begin(), latencies.end());
  const auto us = [](steady_clock::duration d) { return duration_cast<microseconds>(d).count(); };
  const auto p50 = latencies[kSamples / 2];
  const auto p99 = latencies[kSamples * 99 / 100];
  std::printf("access log hand-off latency over %zu lines: p50 %lld us, p99 %lld us, max %lld us\n", kSamples,
              static_cast<long long>(us(p50)), static_cast<long long>(us(p99)),
              static_cast<long long>(us(latencies.back())));
  // Generous for a loaded machine; the writer's idle tick alone is 100 ms.
  EXPECT_LT(p50, milliseconds(20));
}

}  // namespace
}  // namespace tollgate::gateway
