#pragma once
// Emit stage, kafka sink: the disk spool that holds usage events the broker has not
// acknowledged, so none is lost while Kafka is down (SPEC section 6). Private to KafkaSink.
//
// Layout: segment files `usage-<20-digit sequence>.spool` under one directory, each an
// 8-byte header "TGSPOOL1" followed by records:
//
//   u32 magic 0xA56C7AF1 (bytes F1 7A 6C A5: never valid UTF-8, so never inside a JSON payload)
//   u32 body length
//   u32 CRC32C of the body
//   body: u32 key length, u32 event_id length, key, event_id, payload
//
// all integers little-endian. New records always go to a segment this process created; older
// segments (left by an earlier process, perhaps killed mid-write) are only read. A record cut
// short at the end of a file (torn) or failing its CRC (corrupt) is skipped, counted and logged;
// reading resynchronises on the next magic whose record checks out.
//
// Threading: not thread-safe; owned by the sink's background thread. Every call may do file
// I/O and block on the disk.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// CRC32C (Castagnoli), the checksum of a spool record body.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

struct SpoolOptions {
  std::string dir;                        // absolute; created if missing
  std::uint64_t max_bytes = 1ull << 30;   // appends that would exceed it are refused
  std::uint64_t segment_bytes = 0;        // 0: max_bytes / 16, clamped to [64 KiB, 64 MiB]
};

// A record read back from the spool, with the segment it came from: pass `segment` to
// Spool::done() once the record is acknowledged (or given up on).
struct SpooledRecord {
  Record record;
  std::uint64_t segment = 0;
};

// Damage found while reading, cumulative.
struct SpoolDamage {
  std::uint64_t torn = 0;     // records cut short at the end of a file (crash mid-write)
  std::uint64_t corrupt = 0;  // stretches of bytes that are not valid records (bad CRC, ...)
};

class Spool {
 public:
  enum class Append {
    ok,      // written (durable after the next sync())
    full,    // would exceed max_bytes: not written
    failed,  // I/O error or record too large: not written (logged)
  };

  // Creates the directory if needed, takes an exclusive lock on it (a second Spool on the same
  // directory, in this process or another, fails) and indexes the segments already there.
  // Throws std::runtime_error naming the directory when it is unusable.
  explicit Spool(SpoolOptions options);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // Appends one record at the tail. Written with one write(2); not yet fsync'd.
  Append append(const Record& record);
  // fdatasync()s what append() wrote since the last sync. False on an I/O error (logged).
  bool sync();

  // The next record in spool order that has not been handed out yet, skipping damage (counted
  // in damage(), logged at warn). nullopt when every record has been handed out.
  std::optional<SpooledRecord> next();
  // One record handed out by next() is settled (acknowledged, or dropped for good). A segment is
  // deleted once it has been read to its end and every record read from it is settled.
  void done(std::uint64_t segment);

  // Whether next() may have something (records written or left that were not handed out yet).
  bool has_unread() const;
  // Records handed out by next() and not settled yet.
  std::uint64_t outstanding() const;
  // Bytes of every segment file on disk.
  std::uint64_t bytes() const { return bytes_; }
  std::uint64_t max_bytes() const { return options_.max_bytes; }
  // False after a write or sync failure, until an append succeeds again.
  bool writable() const { return writable_; }
  // True once an append was refused for the cap, until one succeeds or a segment is reclaimed.
  bool full() const { return full_; }
  SpoolDamage damage() const { return damage_; }
  const std::string& dir() const { return options_.dir; }

 private:
  struct Segment {
    std::uint64_t seq = 0;
    std::string path;
    std::uint64_t size = 0;         // bytes in the file (as far as this process knows)
    std::uint64_t read_offset = 0;  // next byte next() looks at
    std::uint64_t outstanding = 0;  // records handed out, not settled
    bool header_checked = false;
  };

  Segment* find(std::uint64_t seq);
  bool open_active();
  void close_active();
  void reclaim();
  std::optional<SpooledRecord> read_one(Segment& seg);
  bool read_at(Segment& seg, std::uint64_t offset, std::size_t n, std::string_view& out);
  void skip_damage(Segment& seg, std::uint64_t from, bool incomplete);

  SpoolOptions options_;
  int lock_fd_ = -1;
  std::deque<Segment> segments_;  // oldest first; the last one may be the active one
  int active_fd_ = -1;             // the segment appended to (always the last one), or -1
  bool dirty_ = false;
  bool writable_ = true;
  bool full_ = false;
  std::uint64_t next_seq_ = 1;
  std::uint64_t bytes_ = 0;
  SpoolDamage damage_;
  // Read buffer: bytes [buf_base_, buf_base_ + buf_.size()) of segment buf_seq_.
  int read_fd_ = -1;
  std::uint64_t read_seq_ = 0;
  std::uint64_t buf_base_ = 0;
  std::string buf_;
};

}  // namespace tollgate::usage
