#include "tollgate/usage/stdout_sink.hpp"

#include <limits.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "line_writer.hpp"
#include "tollgate/usage/line_sink.hpp"

namespace tollgate::usage {
namespace {

// A file descriptor the process keeps open (fd 1, fd 2). Durability is the reader's business:
// sync() does nothing.
class FdOutput final : public LineOutput {
 public:
  // `max_write`: at most this many bytes (whole lines) per write(2), 0 for no limit. PIPE_BUF
  // keeps each write(2) atomic on a pipe, for an fd that other writers share.
  FdOutput(int fd, std::size_t max_write) : fd_(fd), max_write_(max_write) {}

  Written write(std::string_view lines) override {
    if (!pending_.empty()) {
      const RawWrite w = write_fully(fd_, pending_);
      pending_.erase(0, w.bytes);
      if (w.error != 0) return {0, w.error};
    }
    std::size_t taken = 0;
    while (taken < lines.size()) {
      const std::string_view rest = lines.substr(taken);
      std::string_view chunk = max_write_ == 0 ? rest : whole_lines_within(rest, max_write_);
      if (chunk.empty()) chunk = rest.substr(0, rest.find('\n') + 1);  // one line over the limit
      const RawWrite w = write_fully(fd_, chunk);
      if (w.error == 0) {
        taken += chunk.size();
        continue;
      }
      if (w.bytes == 0 || chunk[w.bytes - 1] == '\n') return {taken + w.bytes, w.error};
      // Part of a line is out: take the line, and finish it before anything else next time.
      const std::size_t end = chunk.find('\n', w.bytes) + 1;
      pending_.assign(chunk.substr(w.bytes, end - w.bytes));
      return {taken + end, w.error};
    }
    return {taken, 0};
  }

  int sync() override { return 0; }

 private:
  const int fd_;
  const std::size_t max_write_;
  std::string pending_;  // the unwritten rest of a line begun on fd_
};

}  // namespace

StdoutSink::StdoutSink(std::size_t workers, LineSinkOptions options)
    : writer_(std::make_unique<LineWriter>(
          "stdout", workers, LineWriter::Options{options.queue_capacity, options.sync_interval},
          std::make_unique<FdOutput>(STDOUT_FILENO, 0))) {}

StdoutSink::~StdoutSink() { close(); }

void StdoutSink::emit(std::size_t worker, Record record) { writer_->emit(worker, std::move(record)); }

void StdoutSink::close() { writer_->close(); }

bool StdoutSink::ready() const { return writer_->ready(); }

SinkStats StdoutSink::stats() const { return writer_->stats(); }

std::unique_ptr<Sink> open_fd_line_sink(const LineSinkLabels& labels, int fd, std::size_t workers,
                                        LineSinkOptions options) {
  auto writer = std::make_unique<LineWriter>(
      labels.sink, workers, LineWriter::Options{options.queue_capacity, options.sync_interval},
      std::make_unique<FdOutput>(fd, PIPE_BUF), labels.subject);
  return std::make_unique<LineSink>(labels.sink, std::move(writer));
}

}  // namespace tollgate::usage
