#pragma once
// Emit stage: the writer thread shared by the file and stdout sinks (and the line sinks of
// line_sink.hpp, such as the access log). Takes records from the workers through a Handoff,
// writes each record's payload as one line to a LineOutput, makes the output durable every
// sync interval and on close, and keeps the sink's stats and logs.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "handoff.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// Where a LineWriter's lines go. Used only on the writer thread, and destroyed there.
class LineOutput {
 public:
  struct Written {
    std::size_t bytes = 0;  // leading bytes taken: always whole lines (ends at a '\n')
    int error = 0;          // errno when it took fewer than all the bytes, else 0
  };

  virtual ~LineOutput() = default;

  // Writes `lines` (whole lines, each ending in '\n'), never leaving part of a line behind:
  // a line is either taken whole (written, or committed to be finished first next time) or
  // not at all. Taking fewer than all bytes is an error (`error` says which).
  virtual Written write(std::string_view lines) = 0;

  // Makes what was written durable (fdatasync). Returns 0 or an errno.
  virtual int sync() = 0;
};

// Repeated-error logging: lets one log line through per interval, carrying the count of
// everything added since the previous one.
class LogThrottle {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LogThrottle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  void add(std::uint64_t n) { pending_ += n; }

  // The count to log now (all added since the last report), or 0 when nothing was added or
  // the last report was less than an interval ago (unless `force`).
  std::uint64_t take(TimePoint now, bool force = false);

 private:
  std::chrono::steady_clock::duration interval_;
  std::uint64_t pending_ = 0;
  bool reported_ = false;
  TimePoint last_{};
};

// What write_fully did: raw bytes, which may end inside a line.
struct RawWrite {
  std::size_t bytes = 0;
  int error = 0;  // errno when it wrote fewer than all the bytes, else 0
};

// Writes into `fd` until all of `data` is written or an error stops it: EINTR is retried,
// EAGAIN (a non-blocking fd) waits up to a second for the fd to become writable.
RawWrite write_fully(int fd, std::string_view data);

// The longest prefix of `lines` (whole lines) that is whole lines and at most `room` bytes;
// empty when the first line alone is longer.
std::string_view whole_lines_within(std::string_view lines, std::uint64_t room);

// The writer thread and the Sink operations built on it; FileSink and StdoutSink forward
// to one of these. emit() is the producer side (event-loop threads); everything else may be
// called from any thread.
class LineWriter {
 public:
  struct Options {
    std::size_t queue_capacity;              // records per worker, see Handoff
    std::chrono::milliseconds sync_interval;  // fdatasync at least this often while writing
  };

  // Starts the writer thread. `sink_name` is the `sink` field of its log lines, `subject`
  // starts their messages ("usage sink write failed").
  LineWriter(std::string sink_name, std::size_t workers, Options options,
             std::unique_ptr<LineOutput> output, std::string subject = "usage");
  // close().
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  // Sink::emit: never blocks, no I/O, no shared lock. Dropped (and counted) when the worker's
  // queue is full or the writer is closed; the writer thread logs drops, rate-limited.
  void emit(std::size_t worker, Record record) { handoff_.push(worker, std::move(record)); }

  // Sink::close: writes everything emitted before it, syncs, stops the thread. Blocks;
  // idempotent; safe from several threads.
  void close();

  // False from a failed write (or sync) until a write succeeds again.
  bool ready() const { return ready_.load(std::memory_order_relaxed); }

  SinkStats stats() const;

 private:
  void thread_main();
  void run();
  void write_batch(std::string_view lines, std::size_t count);
  void sync_output();
  void report(LogThrottle::TimePoint now, bool force);
  // subject_ + ' ' + rest.
  std::string message(std::string_view rest) const;

  const std::string name_;
  const std::string subject_;
  const std::chrono::milliseconds sync_interval_;
  Handoff handoff_;
  std::unique_ptr<LineOutput> output_;  // writer thread only

  std::atomic<bool> ready_{true};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> write_dropped_{0};  // write errors and malformed payloads

  // Writer thread only: rate-limited error reports.
  std::uint64_t queue_dropped_seen_ = 0;
  LogThrottle queue_full_log_;
  LogThrottle write_error_log_;      // counts failed writes
  std::uint64_t write_error_dropped_ = 0;  // records they dropped since the last report
  int last_write_error_ = 0;
  LogThrottle sync_error_log_;
  int last_sync_error_ = 0;
  LogThrottle malformed_log_;
  std::string malformed_event_id_;  // the latest one, for the log line

  std::mutex close_mutex_;  // serialises close(); never touched by emit()
  std::thread thread_;      // last: started once everything above is constructed
};

// A Sink that is only a LineWriter and a name: what line_sink.hpp's factories return.
class LineSink final : public Sink {
 public:
  LineSink(std::string name, std::unique_ptr<LineWriter> writer)
      : name_(std::move(name)), writer_(std::move(writer)) {}
  // close().
  ~LineSink() override { close(); }
  LineSink(const LineSink&) = delete;
  LineSink& operator=(const LineSink&) = delete;

  void emit(std::size_t worker, Record record) override { writer_->emit(worker, std::move(record)); }
  void close() override { writer_->close(); }
  bool ready() const override { return writer_->ready(); }
  SinkStats stats() const override { return writer_->stats(); }
  std::string_view name() const override { return name_; }

 private:
  const std::string name_;
  std::unique_ptr<LineWriter> writer_;
};

}  // namespace tollgate::usage
