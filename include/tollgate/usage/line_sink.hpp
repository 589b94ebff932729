#pragma once
// Emit stage, reused by the gateway's access log: a Sink of ready-made JSON lines, written by a
// thread of its own (the writer of the file and stdout sinks) to a file descriptor or to a file
// it rotates. Each Record's payload becomes one line; `key` is ignored, `event_id` only names a
// record in log lines about it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tollgate/usage/file_sink.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// What a line sink's own log lines and start-up errors call it, so an operator can tell it
// from the usage sink: {"access_log", "access log", "access_max_bytes"} gives log lines such
// as "access log sink write failed" with "sink":"access_log".
struct LineSinkLabels {
  std::string sink;       // Sink::name() and the `sink` field of its log lines
  std::string subject;    // starts its log messages and errors ("usage" for the usage sinks)
  std::string limit_key;  // the setting that bounds a file's size, named when rotation fails
};

// Writes to `fd`, which the caller keeps open until close() returned. Other writers may share
// the fd if each writes whole lines with one write(2) (the process log on fd 2): every write(2)
// of this sink holds whole lines and at most PIPE_BUF bytes (one longer line goes alone), so
// on a pipe no line of theirs lands inside one of ours. Behaves as StdoutSink otherwise:
// durability is the reader's business, a closed pipe gives EPIPE (not SIGPIPE), a write error
// drops records (counted, logged) and clears ready() until a write succeeds.
std::unique_ptr<Sink> open_fd_line_sink(const LineSinkLabels& labels, int fd, std::size_t workers,
                                        LineSinkOptions options = {});

// Appends to the file at `path` (absolute), rotating it past `max_bytes` exactly as FileSink
// does (renamed to "<path>.<N>", never overwritten). Throws std::runtime_error, starting with
// the labels' subject and naming the path and the reason, when the path is not absolute,
// `max_bytes` is 0, or the directory or file cannot be created or opened.
std::unique_ptr<Sink> open_file_line_sink(const LineSinkLabels& labels, const std::string& path,
                                          std::uint64_t max_bytes, std::size_t workers,
                                          LineSinkOptions options = {});

}  // namespace tollgate::usage
