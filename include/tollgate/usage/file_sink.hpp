#pragma once
// Emit stage: the `file` usage sink. Appends each event as one JSON line to usage.file_path,
// from a writer thread of its own; rotates the file by size (SPEC section 6).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

class LineWriter;  // src/usage/line_writer.hpp: the writer thread FileSink and StdoutSink share

// Tuning shared by the sinks that write lines from a writer thread (file, stdout).
struct LineSinkOptions {
  // Records each worker may have emitted that the writer has not yet taken (rounded up to a
  // power of two). emit() on a full queue drops the record: counted in stats().dropped and
  // logged at error by the writer thread (at most once a second, with the count). Memory is
  // bounded by workers x capacity x (96 bytes + payload); slots are touched only once used.
  std::size_t queue_capacity = 65'536;
  // Written lines are made durable (fdatasync) at least this often while records come in,
  // and at close(). Each record reaches the kernel (write(2)) as soon as the writer wakes.
  std::chrono::milliseconds sync_interval{1'000};
};

// Each line is one record's payload and "\n", written whole by the one writer thread
// (O_APPEND; batched, never interleaved or split). When a line would take the file past
// usage.file_max_bytes, the file is first renamed to "<path>.<N>" (N: one more than the
// largest number found beside it at open, then counting up; never reused, never overwritten,
// nothing deleted) and a new file is started, so no file exceeds the limit unless it holds a
// single longer line. A write error (disk full) drops the batch's unwritten records (counted
// and logged, rate-limited) and makes ready() false until a write succeeds again.
class FileSink final : public Sink {
 public:
  // Creates the file's directory if missing, opens (or creates) the file for appending and
  // starts the writer thread. `workers`: the number of event-loop threads that call emit().
  // Start-up errors (empty or non-absolute path, directory or file that cannot be created or
  // opened) throw std::runtime_error naming the path and the reason.
  static std::unique_ptr<FileSink> open(const config::UsageConfig& config, std::size_t workers,
                                        LineSinkOptions options = {});

  // close().
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  // Worker `worker`'s event-loop thread only; never blocks, no I/O, no shared lock.
  void emit(std::size_t worker, Record record) override;
  // Writes and fdatasyncs everything emitted before it, then stops the writer. Blocks;
  // idempotent. Records emitted afterwards are dropped and counted.
  void close() override;
  bool ready() const override;
  // delivered: lines written; dropped: queue full, write errors, emitted after close.
  SinkStats stats() const override;
  std::string_view name() const override { return "file"; }

 private:
  explicit FileSink(std::unique_ptr<LineWriter> writer);

  std::unique_ptr<LineWriter> writer_;
};

}  // namespace tollgate::usage
