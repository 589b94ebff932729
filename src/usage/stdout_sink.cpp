#include "tollgate/usage/stdout_sink.hpp"

#include <unistd.h>

#include <string>
#include <utility>

#include "line_writer.hpp"

namespace tollgate::usage {
namespace {

// fd 1. Durability is the reader's business: sync() does nothing.
class StdoutOutput final : public LineOutput {
 public:
  Written write(std::string_view lines) override {
    if (!pending_.empty()) {
      const RawWrite w = write_fully(STDOUT_FILENO, pending_);
      pending_.erase(0, w.bytes);
      if (w.error != 0) return {0, w.error};
    }
    const RawWrite w = write_fully(STDOUT_FILENO, lines);
    if (w.error == 0 || w.bytes == 0 || lines[w.bytes - 1] == '\n') return {w.bytes, w.error};
    // Part of a line is out: take the line, and finish it before anything else next time.
    const std::size_t end = lines.find('\n', w.bytes) + 1;
    pending_.assign(lines.substr(w.bytes, end - w.bytes));
    return {end, w.error};
  }

  int sync() override { return 0; }

 private:
  std::string pending_;  // the unwritten rest of a line begun on fd 1
};

}  // namespace

StdoutSink::StdoutSink(std::size_t workers, LineSinkOptions options)
    : writer_(std::make_unique<LineWriter>(
          "stdout", workers, LineWriter::Options{options.queue_capacity, options.sync_interval},
          std::make_unique<StdoutOutput>())) {}

StdoutSink::~StdoutSink() { close(); }

void StdoutSink::emit(std::size_t worker, Record record) { writer_->emit(worker, std::move(record)); }

void StdoutSink::close() { writer_->close(); }

bool StdoutSink::ready() const { return writer_->ready(); }

SinkStats StdoutSink::stats() const { return writer_->stats(); }

}  // namespace tollgate::usage
