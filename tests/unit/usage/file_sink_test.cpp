#include "tollgate/usage/file_sink.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "file_sink_test_support.hpp"
#include "tollgate/usage/stdout_sink.hpp"

namespace tollgate::usage {
namespace {

using tollgate::testing::make_record;
using tollgate::testing::parse_line;
using tollgate::testing::poll_until;
using tollgate::testing::read_file;
using tollgate::testing::split_lines;
using tollgate::testing::TempDir;

config::UsageConfig file_config(const std::string& path, std::uint64_t max_bytes = 100ull << 20) {
  config::UsageConfig c;
  c.sink = config::SinkKind::file;
  c.file_path = path;
  c.file_max_bytes = max_bytes;
  return c;
}

// One thread per worker, each emitting records `first` .. `first + count - 1`; joined.
void emit_concurrently(Sink& sink, std::size_t workers, std::size_t count, std::size_t pad = 8,
                       std::size_t first = 0) {
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&sink, w, count, pad, first] {
      for (std::size_t n = first; n < first + count; ++n) sink.emit(w, make_record(w, n, pad));
    });
  }
  for (auto& t : threads) t.join();
}

// Each worker's records `first` .. `first + count - 1` exactly once, in the order emitted.
void expect_every_record_once_in_order(const std::vector<std::string>& lines, std::size_t workers,
                                       std::size_t count, std::size_t first = 0) {
  std::vector<std::size_t> next(workers, first);
  for (const auto& line : lines) {
    const auto p = parse_line(line);
    ASSERT_TRUE(p) << "not a whole record: " << line;
    ASSERT_LT(p->w, workers) << line;
    ASSERT_EQ(p->n, next[p->w]) << "worker " << p->w;
    ++next[p->w];
  }
  for (std::size_t w = 0; w < workers; ++w) EXPECT_EQ(next[w], first + count) << "worker " << w;
}

// "<base>.<N>" files in `dir`, by N.
std::map<std::uint64_t, std::string> rotated_files(const std::string& dir, const std::string& base) {
  std::map<std::uint64_t, std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= base.size() + 1 || name.compare(0, base.size() + 1, base + '.') != 0) continue;
    std::uint64_t n = 0;
    const char* first = name.data() + base.size() + 1;
    const char* last = name.data() + name.size();
    const auto [ptr, err] = std::from_chars(first, last, n);
    if (err == std::errc() && ptr == last) out[n] = entry.path().string();
  }
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

TEST(FileSink, ConcurrentWorkersEveryRecordOnceInWorkerOrder) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  auto sink = FileSink::open(file_config(path), 4);
  EXPECT_EQ(sink->name(), "file");
  EXPECT_TRUE(sink->ready());
  emit_concurrently(*sink, 4, 20'000);
  sink->close();

  const auto lines = split_lines(read_file(path));
  EXPECT_TRUE(lines.whole);
  EXPECT_EQ(lines.lines.size(), 80'000u);
  expect_every_record_once_in_order(lines.lines, 4, 20'000);
  EXPECT_EQ(sink->stats().delivered, 80'000u);
  EXPECT_EQ(sink->stats().dropped, 0u);
  EXPECT_TRUE(sink->ready());
  EXPECT_TRUE(rotated_files(dir.path(), "usage.jsonl").empty());
}

TEST(FileSink, WritesWithinASecondWithoutClose) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  auto sink = FileSink::open(file_config(path), 1);
  for (std::size_t n = 0; n < 10; ++n) sink->emit(0, make_record(0, n));
  EXPECT_TRUE(poll_until([&] { return split_lines(read_file(path)).lines.size() == 10; },
                         std::chrono::milliseconds(1'500)));
  EXPECT_EQ(sink->stats().delivered, 10u);
  expect_every_record_once_in_order(split_lines(read_file(path)).lines, 1, 10);
}

TEST(FileSink, RotationLosesNothingAndNeverSplitsALine) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  constexpr std::uint64_t kMax = 4'096;
  auto sink = FileSink::open(file_config(path, kMax), 3);
  emit_concurrently(*sink, 3, 3'000, 20);
  sink->close();
  EXPECT_EQ(sink->stats().delivered, 9'000u);
  EXPECT_EQ(sink->stats().dropped, 0u);

  const auto rotated = rotated_files(dir.path(), "usage.jsonl");
  ASSERT_GE(rotated.size(), 50u);
  EXPECT_EQ(rotated.begin()->first, 1u);
  EXPECT_EQ(rotated.rbegin()->first, rotated.size()) << "numbers are 1, 2, ... without gaps";
  std::vector<std::string> files;
  for (const auto& [n, file] : rotated) files.push_back(file);
  files.push_back(path);
  std::vector<std::string> all;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const std::string text = read_file(files[i]);
    ASSERT_FALSE(text.empty()) << files[i];
    EXPECT_EQ(text.back(), '\n') << files[i];
    EXPECT_LE(text.size(), kMax) << files[i];
    // A file is rotated only when the next line does not fit (lines here are < 64 bytes).
    if (i + 1 < files.size()) {
      EXPECT_GT(text.size(), kMax - 64) << files[i];
    }
    const auto lines = split_lines(text);
    all.insert(all.end(), lines.lines.begin(), lines.lines.end());
  }
  expect_every_record_once_in_order(all, 3, 3'000);
}

TEST(FileSink, RotationNeverReusesOrOverwritesNumbers) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  write_file(path + ".1", "old 1\n");
  write_file(path + ".7", "old 7\n");
  write_file(path + ".9.gz", "old 9, compressed\n");
  write_file(path + ".bak", "not a rotation\n");
  write_file(dir.file("other.jsonl.40"), "another file's rotation\n");

  auto sink = FileSink::open(file_config(path, 256), 1);
  for (std::size_t n = 0; n < 40; ++n) sink->emit(0, make_record(0, n));
  sink->close();
  auto rotated = rotated_files(dir.path(), "usage.jsonl");
  ASSERT_GE(rotated.size(), 5u);
  auto it = rotated.begin();
  EXPECT_EQ((it++)->first, 1u);
  EXPECT_EQ((it++)->first, 7u);
  EXPECT_EQ(it->first, 10u) << "the first new number follows the largest existing one (9.gz)";
  const std::uint64_t last_first_run = rotated.rbegin()->first;
  std::map<std::uint64_t, std::string> contents;
  for (const auto& [n, file] : rotated) contents[n] = read_file(file);

  // Reopened: appends to the current file, and numbers go on after the largest.
  auto reopened = FileSink::open(file_config(path, 256), 1);
  for (std::size_t n = 40; n < 80; ++n) reopened->emit(0, make_record(0, n));
  reopened->close();
  rotated = rotated_files(dir.path(), "usage.jsonl");
  for (const auto& [n, text] : contents) EXPECT_EQ(read_file(rotated.at(n)), text) << n;
  EXPECT_GT(rotated.size(), contents.size());
  EXPECT_EQ(rotated.upper_bound(last_first_run)->first, last_first_run + 1);
  EXPECT_EQ(read_file(path + ".9.gz"), "old 9, compressed\n");
  EXPECT_EQ(read_file(path + ".bak"), "not a rotation\n");

  std::vector<std::string> all;
  for (const auto& [n, file] : rotated) {
    if (n < 10) continue;
    const auto lines = split_lines(read_file(file));
    EXPECT_TRUE(lines.whole);
    all.insert(all.end(), lines.lines.begin(), lines.lines.end());
  }
  const auto current = split_lines(read_file(path));
  all.insert(all.end(), current.lines.begin(), current.lines.end());
  expect_every_record_once_in_order(all, 1, 80);
}

TEST(FileSink, ALineLongerThanTheLimitGetsAFileOfItsOwn) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  auto sink = FileSink::open(file_config(path, 64), 1);
  sink->emit(0, make_record(0, 0, 1));
  sink->emit(0, make_record(0, 1, 200));
  sink->emit(0, make_record(0, 2, 1));
  sink->close();
  EXPECT_EQ(read_file(path + ".1"), make_record(0, 0, 1).payload + '\n');
  EXPECT_EQ(read_file(path + ".2"), make_record(0, 1, 200).payload + '\n');
  EXPECT_EQ(read_file(path), make_record(0, 2, 1).payload + '\n');
  EXPECT_EQ(rotated_files(dir.path(), "usage.jsonl").size(), 2u);
}

TEST(FileSink, CreatesMissingDirectories) {
  TempDir dir;
  const std::string path = dir.file("a/b/c/usage.jsonl");
  auto sink = FileSink::open(file_config(path), 1);
  sink->emit(0, make_record(0, 0));
  sink->close();
  EXPECT_EQ(read_file(path), make_record(0, 0).payload + '\n');
}

TEST(FileSink, AppendsToAnExistingFileAndEndsAStrayFragmentFirst) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  write_file(path, make_record(0, 0).payload + "\n{\"cut\":");
  auto sink = FileSink::open(file_config(path), 1);
  sink->emit(0, make_record(0, 1));
  sink->close();
  const auto lines = split_lines(read_file(path));
  EXPECT_TRUE(lines.whole);
  ASSERT_EQ(lines.lines.size(), 3u);
  EXPECT_EQ(lines.lines[0], make_record(0, 0).payload);
  EXPECT_EQ(lines.lines[1], "{\"cut\":");
  EXPECT_EQ(lines.lines[2], make_record(0, 1).payload);
}

TEST(FileSink, OpenErrorsThrowAtStartUp) {
  TempDir dir;
  EXPECT_THROW(FileSink::open(file_config("relative/usage.jsonl"), 1), std::runtime_error);
  EXPECT_THROW(FileSink::open(file_config(""), 1), std::runtime_error);
  EXPECT_THROW(FileSink::open(file_config(dir.file("usage.jsonl"), 0), 1), std::runtime_error);
  write_file(dir.file("plain"), "a file, not a directory\n");
  EXPECT_THROW(FileSink::open(file_config(dir.file("plain/usage.jsonl")), 1), std::runtime_error);
  std::filesystem::create_directory(dir.file("taken"));
  EXPECT_THROW(FileSink::open(file_config(dir.file("taken")), 1), std::runtime_error);
}

TEST(FileSink, CloseIsIdempotentAndLaterRecordsAreDropped) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  auto sink = FileSink::open(file_config(path), 2);
  sink->emit(0, make_record(0, 0));
  sink->emit(1, make_record(1, 0));
  sink->close();
  sink->close();
  EXPECT_EQ(split_lines(read_file(path)).lines.size(), 2u);
  sink->emit(0, make_record(0, 1));
  EXPECT_EQ(sink->stats().delivered, 2u);
  EXPECT_EQ(sink->stats().dropped, 1u);
  sink.reset();  // closes again
  EXPECT_EQ(split_lines(read_file(path)).lines.size(), 2u);
}

TEST(FileSink, WriteErrorsDropRecordsAndClearReady) {
  if (!std::filesystem::exists("/dev/full")) GTEST_SKIP() << "no /dev/full";
  auto sink = FileSink::open(file_config("/dev/full"), 1);  // every write fails with ENOSPC
  for (std::size_t n = 0; n < 5; ++n) sink->emit(0, make_record(0, n));
  EXPECT_TRUE(poll_until([&] { return sink->stats().dropped == 5; }));
  EXPECT_FALSE(sink->ready());
  EXPECT_EQ(sink->stats().delivered, 0u);
  sink->close();
  EXPECT_EQ(sink->stats().dropped, 5u);
}

// Points fd 1 at another file for its lifetime.
class StdoutRedirect {
 public:
  explicit StdoutRedirect(int fd) {
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    if (saved_ < 0 || ::dup2(fd, STDOUT_FILENO) < 0) throw std::runtime_error("cannot redirect fd 1");
  }
  ~StdoutRedirect() {
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }
  StdoutRedirect(const StdoutRedirect&) = delete;
  StdoutRedirect& operator=(const StdoutRedirect&) = delete;

 private:
  int saved_ = -1;
};

TEST(StdoutSink, WritesEachRecordAsALineOnFd1) {
  TempDir dir;
  const std::string path = dir.file("stdout.txt");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  SinkStats stats;
  {
    StdoutRedirect redirect(fd);
    StdoutSink sink(2);
    emit_concurrently(sink, 2, 1'000);
    sink.close();
    sink.close();
    stats = sink.stats();
  }
  ::close(fd);
  const auto lines = split_lines(read_file(path));
  EXPECT_TRUE(lines.whole);
  expect_every_record_once_in_order(lines.lines, 2, 1'000);
  EXPECT_EQ(stats.delivered, 2'000u);
  EXPECT_EQ(stats.dropped, 0u);
}

TEST(StdoutSink, APipeReaderSeesWholeLines) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  std::string received;
  // Reads until every write end is closed (ours below, fd 1 when the redirect ends).
  std::thread reader([&received, fd = fds[0]] {
    char buf[4'096];
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      received.append(buf, static_cast<std::size_t>(n));
    }
  });
  SinkStats stats;
  {
    StdoutRedirect redirect(fds[1]);
    ::close(fds[1]);
    StdoutSink sink(2);
    EXPECT_EQ(sink.name(), "stdout");
    // ~1.3 MB: far more than the pipe holds, so writes are short and the writer waits.
    emit_concurrently(sink, 2, 5'000, 120);
    sink.close();
    stats = sink.stats();
  }
  reader.join();
  ::close(fds[0]);
  const auto lines = split_lines(received);
  EXPECT_TRUE(lines.whole);
  expect_every_record_once_in_order(lines.lines, 2, 5'000);
  EXPECT_EQ(stats.delivered, 10'000u);
}

TEST(StdoutSink, AClosedPipeDropsRecordsInsteadOfKillingTheProcess) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ::close(fds[0]);
  StdoutRedirect redirect(fds[1]);
  ::close(fds[1]);
  StdoutSink sink(1);
  sink.emit(0, make_record(0, 0));
  EXPECT_TRUE(poll_until([&] { return sink.stats().dropped == 1; }));
  EXPECT_FALSE(sink.ready());
  sink.close();
  EXPECT_EQ(sink.stats().delivered, 0u);
}

// A non-blocking pipe nobody reads: the writer gets part of a long line out, then EAGAIN.
// The rest of that line must go out before the next line, once the pipe is read again.
TEST(StdoutSink, ALineCutShortByAnErrorIsFinishedBeforeTheNextOne) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  ASSERT_EQ(::fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
  const std::size_t pipe_size = static_cast<std::size_t>(::fcntl(fds[0], F_GETPIPE_SZ));
  std::string received;
  std::thread reader;
  {
    StdoutRedirect redirect(fds[1]);
    ::close(fds[1]);
    StdoutSink sink(1);
    sink.emit(0, make_record(0, 0, pipe_size + 1'000));
    // The writer waits up to a second for room, then gives up on this write.
    EXPECT_TRUE(poll_until([&] { return !sink.ready(); }));
    EXPECT_EQ(sink.stats().delivered, 1u) << "the line is taken: its rest is owed";
    reader = std::thread([&received, fd = fds[0]] {
      char buf[4'096];
      for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        received.append(buf, static_cast<std::size_t>(n));
      }
    });
    sink.emit(0, make_record(0, 1));
    EXPECT_TRUE(poll_until([&] { return sink.ready(); }));
    sink.close();
    EXPECT_EQ(sink.stats().delivered, 2u);
    EXPECT_EQ(sink.stats().dropped, 0u);
  }
  reader.join();
  ::close(fds[0]);
  const auto lines = split_lines(received);
  EXPECT_TRUE(lines.whole);
  expect_every_record_once_in_order(lines.lines, 1, 2);
}

}  // namespace
}  // namespace tollgate::usage
