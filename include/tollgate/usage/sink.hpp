#pragma once
// Emit stage: where usage events go (SPEC section 6). One Sink per process, shared by every
// worker; the gateway hands each finished request's event over and never waits for it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tollgate::usage {

// One event, already serialised (tollgate or CloudEvents format).
struct Record {
  std::string key;       // the tenant: Kafka message key
  std::string event_id;  // for log lines about this record (never its payload)
  std::string payload;   // one JSON object, no newline
};

// Cumulative counts for tollgate_usage_events_total{sink,result} and tollgate_usage_spool_bytes.
struct SinkStats {
  std::uint64_t delivered = 0;    // written (file, stdout) or acknowledged by the broker
  std::uint64_t spooled = 0;      // not acknowledged in time: appended to the spool
  std::uint64_t replayed = 0;     // taken from the spool and acknowledged by the broker
  std::uint64_t dropped = 0;      // lost: spool full (or unwritable); each also logged at error
  std::uint64_t spool_bytes = 0;  // current size of the spool on disk
};

class Sink {
 public:
  virtual ~Sink() = default;

  // Hands one record over. Called on event-loop threads: never blocks, never does I/O, and
  // takes no lock another worker contends for. `worker` is the calling worker's index (less
  // than the worker count the sink was opened for).
  virtual void emit(std::size_t worker, Record record) = 0;

  // Delivers (or spools) every record handed over so far, then stops. Blocks: call it off the
  // event loops, once no worker emits any more (shutdown).
  virtual void close() = 0;

  // Whether the sink can accept records now (file writable; broker reachable or spool below
  // its cap): part of /readyz. Any thread.
  virtual bool ready() const = 0;

  // Any thread.
  virtual SinkStats stats() const = 0;

  // "file" | "stdout" | "kafka": the `sink` label of the metrics.
  virtual std::string_view name() const = 0;
};

}  // namespace tollgate::usage
