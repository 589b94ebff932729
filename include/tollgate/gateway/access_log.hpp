#pragma once
// Gateway (accounting): the one access-log line per request, and the AccessLog that writes
// those lines (SPEC section 3, `log.access`). Holds only names, prefixes and numbers: never a
// key, a key hash, a provider secret or a prompt.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/core/money.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::gateway {

struct AccessRecord {
  std::string_view request_id;
  std::string_view tenant;
  std::string_view key_name;
  std::string_view key_prefix;
  std::string_view route;
  std::string_view model_requested;
  std::string_view model;
  unsigned status = 0;
  std::string_view error_code;  // our code when the gateway refused or failed the request
  bool stream = false;
  std::string_view outcome;       // completed | client_disconnect | upstream_error | budget_cutoff
  std::string_view token_source;  // provider | counted
  Tokens input_tokens;
  Tokens output_tokens;
  NanoUsd cost;
  std::int64_t latency_ms = 0;
  std::int64_t ttft_ms = -1;      // -1: no token was delivered
};

// `record` as one process-log-shaped JSON object, without a newline:
// {"ts":"<RFC 3339 UTC, ms>","level":"info","msg":"request","request_id":"...",...}. Every
// value is a JSON string (numbers too; ttft_ms is "" when no token was delivered), in the
// order of AccessRecord's fields, with "key" for key_name and "error" for error_code.
std::string access_line(const AccessRecord& record, std::chrono::system_clock::time_point now);

// Where `log.access` sends access lines: stderr, a file (rotated at `log.access_max_bytes`),
// or nowhere. The workers format lines and hand them to one writer thread (the usage sinks'
// lock-free hand-off and writer), so a request never waits for the log's I/O. Lines are
// written whatever `log.level` says; `access: off` is how to turn them off.
//
// On stderr each write(2) holds whole lines and at most PIPE_BUF bytes, so on a pipe the
// process log's lines (one write(2) each, from any thread) never land inside an access line.
// When a worker's queue is full (65,536 lines not yet written) or a write fails, lines are
// dropped, counted in stats() and logged at error by the writer thread (at most once a second).
class AccessLog {
 public:
  // Opens what `config.access` names for `workers` event-loop threads and starts the writer
  // thread (none when off). A file's directory is created if missing. Throws
  // std::runtime_error, with a message fit for the start-up log, when a file cannot be opened.
  static std::unique_ptr<AccessLog> open(const config::LogConfig& config, std::size_t workers);

  // close().
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Worker `worker`'s thread only (`worker` < the count given to open()): formats the line and
  // hands it to the writer thread. Never blocks, does no I/O, takes no lock another worker
  // contends for; a no-op when access logging is off. After close(), lines are dropped (counted).
  void write(std::size_t worker, const AccessRecord& record);

  // Writes every line handed over so far, then stops the writer thread. Blocks: call it at
  // shutdown once the workers stopped. Idempotent; any thread.
  void close();

  // Lines written (delivered) and lost (dropped) so far; zeros when off. Any thread.
  usage::SinkStats stats() const;

 private:
  explicit AccessLog(std::unique_ptr<usage::Sink> sink);

  std::unique_ptr<usage::Sink> sink_;  // null when off
};

}  // namespace tollgate::gateway
