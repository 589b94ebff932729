#pragma once
// Emit stage: the `stdout` usage sink, for containers: each event as one JSON line on fd 1,
// from a writer thread of its own (the same writer as the file sink).
#include <cstddef>
#include <memory>
#include <string_view>

#include "tollgate/usage/file_sink.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// Lines are written whole by the one writer thread; nothing else in the process may write to
// fd 1 (logs go to stderr). If a write fails part-way through a line, the rest of that line
// is written first when writing next succeeds, so a reader never sees two lines run together.
// A write error drops the batch's other records (counted, logged) and makes ready() false
// until a write succeeds again. A closed pipe gives EPIPE (SIGPIPE is blocked on the writer
// thread). A reader that stops reading stalls only the writer thread: the queues fill and
// emit() drops; close() then waits for the reader.
class StdoutSink final : public Sink {
 public:
  // Starts the writer thread. `workers`: the number of event-loop threads that call emit().
  explicit StdoutSink(std::size_t workers, LineSinkOptions options = {});
  // close().
  ~StdoutSink() override;
  StdoutSink(const StdoutSink&) = delete;
  StdoutSink& operator=(const StdoutSink&) = delete;

  // Worker `worker`'s event-loop thread only; never blocks, no I/O, no shared lock.
  void emit(std::size_t worker, Record record) override;
  // Writes everything emitted before it, then stops the writer. Blocks; idempotent.
  void close() override;
  bool ready() const override;
  SinkStats stats() const override;
  std::string_view name() const override { return "stdout"; }

 private:
  std::unique_ptr<LineWriter> writer_;
};

}  // namespace tollgate::usage
