#include "spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "tollgate/core/log.hpp"

namespace tollgate::usage {
namespace {

constexpr std::string_view kFileHeader = "TGSPOOL1";
constexpr std::uint64_t kHeaderBytes = 8;
constexpr std::array<unsigned char, 4> kMagic = {0xF1, 0x7A, 0x6C, 0xA5};
constexpr std::uint64_t kRecordHeaderBytes = 12;  // magic, body length, CRC
constexpr std::uint64_t kMaxBody = 16u << 20;     // larger records are refused (Kafka would too)
constexpr std::size_t kReadChunk = 1u << 20;
constexpr std::string_view kPrefix = "usage-";
constexpr std::string_view kSuffix = ".spool";

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = make_crc_table();

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::uint32_t get_u32(std::string_view in, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[at + i]);
  return v;
}

bool is_magic(std::string_view in, std::size_t at) {
  return std::memcmp(in.data() + at, kMagic.data(), kMagic.size()) == 0;
}

// Concatenates without `"literal" + std::string` (GCC 12 -Wrestrict false positive at -O3).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  ((out += std::string_view(parts)), ...);
  return out;
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// The sequence number in a segment file name, or nullopt when the name is not a segment's.
std::optional<std::uint64_t> segment_seq(std::string_view name) {
  if (name.size() != kPrefix.size() + 20 + kSuffix.size()) return std::nullopt;
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  std::uint64_t seq = 0;
  for (char c : name.substr(kPrefix.size(), 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return seq;
}

std::string segment_name(std::uint64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "usage-%020llu.spool", static_cast<unsigned long long>(seq));
  return buf;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
  crc = ~crc;
  for (unsigned char b : data) crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
  if (options_.segment_bytes == 0) {
    options_.segment_bytes = std::clamp<std::uint64_t>(options_.max_bytes / 16, 64u << 10, 64u << 20);
  }
  const std::string& dir = options_.dir;
  if (dir.empty() || dir.front() != '/') {
    throw std::runtime_error(cat("usage.kafka.spool_dir must be an absolute path, got '", dir, "'"));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw std::runtime_error(cat("usage.kafka.spool_dir '", dir, "' cannot be created: ", ec.message()));
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error(cat("usage.kafka.spool_dir '", dir, "' is not writable: ", errno_text(errno)));
  }
  const std::string lock_path = cat(dir, "/LOCK");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (lock_fd_ < 0) {
    throw std::runtime_error(
        cat("usage.kafka.spool_dir '", dir, "': cannot open ", lock_path, ": ", errno_text(errno)));
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw std::runtime_error(
        cat("usage.kafka.spool_dir '", dir, "' is in use by another Kafka sink (", errno_text(err), ")"));
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto seq = segment_seq(entry.path().filename().string());
    if (!seq || !entry.is_regular_file()) continue;
    Segment seg;
    seg.seq = *seq;
    seg.path = entry.path().string();
    seg.size = entry.file_size();
    segments_.push_back(std::move(seg));
  }
  if (ec) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    throw std::runtime_error(cat("usage.kafka.spool_dir '", dir, "' cannot be listed: ", ec.message()));
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.seq < b.seq; });
  for (const auto& seg : segments_) {
    bytes_ += seg.size;
    next_seq_ = std::max(next_seq_, seg.seq + 1);
  }
  if (!segments_.empty()) {
    log::info("usage spool: records left by an earlier process will be replayed",
              {{"dir", dir}, {"segments", std::to_string(segments_.size())},
               {"bytes", std::to_string(bytes_)}});
  }
}

Spool::~Spool() {
  if (active_fd_ >= 0) {
    if (dirty_) ::fdatasync(active_fd_);
    ::close(active_fd_);
  }
  if (read_fd_ >= 0) ::close(read_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Spool::Segment* Spool::find(std::uint64_t seq) {
  for (auto& seg : segments_) {
    if (seg.seq == seq) return &seg;
  }
  return nullptr;
}

bool Spool::open_active() {
  const std::uint64_t seq = next_seq_++;
  std::string path = options_.dir;
  path += '/';
  path += segment_name(seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    log::error("usage spool: cannot create a segment", {{"path", path}, {"error", errno_text(errno)}});
    return false;
  }
  if (!write_all(fd, kFileHeader)) {
    log::error("usage spool: cannot write a segment header", {{"path", path}, {"error", errno_text(errno)}});
    ::close(fd);
    ::unlink(path.c_str());
    return false;
  }
  fsync_dir(options_.dir);  // the new name survives a crash
  Segment seg;
  seg.seq = seq;
  seg.path = std::move(path);
  seg.size = kHeaderBytes;
  seg.read_offset = kHeaderBytes;
  seg.header_checked = true;
  segments_.push_back(std::move(seg));
  bytes_ += kHeaderBytes;
  active_fd_ = fd;
  dirty_ = true;
  return true;
}

void Spool::close_active() {
  if (active_fd_ < 0) return;
  if (dirty_ && ::fdatasync(active_fd_) != 0) {
    log::error("usage spool: fdatasync failed", {{"dir", options_.dir}, {"error", errno_text(errno)}});
    writable_ = false;
  }
  dirty_ = false;
  ::close(active_fd_);
  active_fd_ = -1;
}

Spool::Append Spool::append(const Record& record) {
  const std::uint64_t body = 8 + record.key.size() + record.event_id.size() + record.payload.size();
  if (body > kMaxBody) {
    log::error("usage spool: record too large to spool, dropped",
               {{"event_id", record.event_id}, {"bytes", std::to_string(body)}});
    return Append::failed;
  }
  const std::uint64_t total = kRecordHeaderBytes + body;
  if (active_fd_ >= 0 && segments_.back().size + total > options_.segment_bytes &&
      segments_.back().size > kHeaderBytes) {
    close_active();  // roll: the next record starts a new segment
  }
  const std::uint64_t needed = total + (active_fd_ >= 0 ? 0 : kHeaderBytes);
  if (bytes_ + needed > options_.max_bytes) {
    full_ = true;
    return Append::full;
  }
  if (active_fd_ < 0 && !open_active()) {
    writable_ = false;
    return Append::failed;
  }
  std::string buf;
  buf.reserve(total);
  buf.append(reinterpret_cast<const char*>(kMagic.data()), kMagic.size());
  put_u32(buf, static_cast<std::uint32_t>(body));
  put_u32(buf, 0);  // CRC, filled below
  put_u32(buf, static_cast<std::uint32_t>(record.key.size()));
  put_u32(buf, static_cast<std::uint32_t>(record.event_id.size()));
  buf += record.key;
  buf += record.event_id;
  buf += record.payload;
  const std::uint32_t crc = crc32c(std::string_view(buf).substr(kRecordHeaderBytes));
  for (int i = 0; i < 4; ++i) buf[8 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);

  Segment& seg = segments_.back();
  if (!write_all(active_fd_, buf)) {
    const int err = errno;
    // Cut off whatever part of the record reached the file, so no torn record is left behind.
    if (::ftruncate(active_fd_, static_cast<off_t>(seg.size)) != 0) {
      log::error("usage spool: cannot truncate after a failed write", {{"path", seg.path}});
    }
    log::error("usage spool: write failed", {{"path", seg.path}, {"error", errno_text(err)}});
    writable_ = false;
    return Append::failed;
  }
  seg.size += total;
  bytes_ += total;
  dirty_ = true;
  writable_ = true;
  full_ = false;
  return Append::ok;
}

bool Spool::sync() {
  if (!dirty_ || active_fd_ < 0) return writable_;
  dirty_ = false;
  if (::fdatasync(active_fd_) != 0) {
    log::error("usage spool: fdatasync failed", {{"dir", options_.dir}, {"error", errno_text(errno)}});
    writable_ = false;
    return false;
  }
  return true;
}

bool Spool::read_at(Segment& seg, std::uint64_t offset, std::size_t n, std::string_view& out) {
  if (read_fd_ < 0 || read_seq_ != seg.seq) {
    if (read_fd_ >= 0) ::close(read_fd_);
    buf_.clear();
    buf_base_ = 0;
    read_seq_ = seg.seq;
    read_fd_ = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (read_fd_ < 0) {
      log::error("usage spool: cannot open a segment", {{"path", seg.path}, {"error", errno_text(errno)}});
      return false;
    }
  }
  if (offset >= buf_base_ && offset + n <= buf_base_ + buf_.size()) {
    out = std::string_view(buf_).substr(offset - buf_base_, n);
    return true;
  }
  if (offset + n > seg.size) return false;
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(
      std::max<std::uint64_t>(n, kReadChunk), seg.size - offset));
  buf_.resize(want);
  buf_base_ = offset;
  std::size_t got = 0;
  while (got < want) {
    const ssize_t r = ::pread(read_fd_, buf_.data() + got, want - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  buf_.resize(got);
  if (got < n) {
    seg.size = offset + got;  // the file is shorter than we thought: read what is there
    return false;
  }
  out = std::string_view(buf_).substr(0, n);
  return true;
}

void Spool::skip_damage(Segment& seg, std::uint64_t from, bool incomplete) {
  // Resynchronise on the next magic that starts a whole record with a valid CRC.
  std::uint64_t found = seg.size;
  for (std::uint64_t q = from + 1; q + kRecordHeaderBytes <= seg.size; ++q) {
    std::string_view head;
    if (!read_at(seg, q, kRecordHeaderBytes, head)) break;
    if (!is_magic(head, 0)) continue;
    const std::uint64_t len = get_u32(head, 4);
    const std::uint32_t crc = get_u32(head, 8);
    if (len < 8 || len > kMaxBody || q + kRecordHeaderBytes + len > seg.size) continue;
    std::string_view whole;
    if (!read_at(seg, q, kRecordHeaderBytes + len, whole)) break;
    if (crc32c(whole.substr(kRecordHeaderBytes)) == crc) {
      found = q;
      break;
    }
  }
  const std::string skipped = std::to_string(found - from);
  const std::string offset = std::to_string(from);
  if (found == seg.size && incomplete) {
    ++damage_.torn;
    log::warn("usage spool: torn record at the end of a segment skipped (a process stopped mid-write)",
              {{"path", seg.path}, {"offset", offset}, {"bytes", skipped}});
  } else {
    ++damage_.corrupt;
    log::error("usage spool: corrupt bytes skipped (bad CRC, length or magic); the events there are lost",
               {{"path", seg.path}, {"offset", offset}, {"bytes", skipped}});
  }
  seg.read_offset = found;
}

std::optional<SpooledRecord> Spool::read_one(Segment& seg) {
  if (!seg.header_checked) {
    seg.header_checked = true;
    std::string_view head;
    if (seg.size < kHeaderBytes || !read_at(seg, 0, kHeaderBytes, head)) {
      if (seg.size > 0) {
        ++damage_.torn;
        log::warn("usage spool: segment cut short inside its header, skipped", {{"path", seg.path}});
      }
      seg.read_offset = seg.size;
      return std::nullopt;
    }
    if (head != kFileHeader) {
      skip_damage(seg, 0, false);
    } else {
      seg.read_offset = kHeaderBytes;
    }
  }
  while (seg.read_offset < seg.size) {
    const std::uint64_t off = seg.read_offset;
    std::string_view head;
    if (seg.size - off < kRecordHeaderBytes || !read_at(seg, off, kRecordHeaderBytes, head)) {
      skip_damage(seg, off, true);
      continue;
    }
    if (!is_magic(head, 0)) {
      skip_damage(seg, off, false);
      continue;
    }
    const std::uint64_t len = get_u32(head, 4);
    const std::uint32_t crc = get_u32(head, 8);
    if (len < 8 || len > kMaxBody) {
      skip_damage(seg, off, false);
      continue;
    }
    std::string_view whole;
    if (off + kRecordHeaderBytes + len > seg.size ||
        !read_at(seg, off, kRecordHeaderBytes + len, whole)) {
      skip_damage(seg, off, true);
      continue;
    }
    const std::string_view body = whole.substr(kRecordHeaderBytes);
    const std::uint64_t key_len = get_u32(body, 0);
    const std::uint64_t id_len = get_u32(body, 4);
    if (crc32c(body) != crc || 8 + key_len + id_len > len) {
      skip_damage(seg, off, false);
      continue;
    }
    SpooledRecord out;
    out.segment = seg.seq;
    out.record.key = std::string(body.substr(8, key_len));
    out.record.event_id = std::string(body.substr(8 + key_len, id_len));
    out.record.payload = std::string(body.substr(8 + key_len + id_len));
    seg.read_offset = off + kRecordHeaderBytes + len;
    ++seg.outstanding;
    return out;
  }
  return std::nullopt;
}

std::optional<SpooledRecord> Spool::next() {
  for (auto& seg : segments_) {
    if (seg.read_offset >= seg.size && seg.header_checked) continue;
    if (auto rec = read_one(seg)) return rec;
  }
  reclaim();
  return std::nullopt;
}

void Spool::done(std::uint64_t segment) {
  if (Segment* seg = find(segment); seg != nullptr && seg->outstanding > 0) --seg->outstanding;
  reclaim();
}

void Spool::reclaim() {
  for (auto it = segments_.begin(); it != segments_.end();) {
    const bool active = active_fd_ >= 0 && std::next(it) == segments_.end();
    const bool finished = it->header_checked && it->read_offset >= it->size && it->outstanding == 0;
    // The active segment goes only once it holds records and all of them are settled; the next
    // append then starts a new one.
    if (!finished || (active && it->size <= kHeaderBytes)) {
      ++it;
      continue;
    }
    if (active) {
      ::close(active_fd_);
      active_fd_ = -1;
      dirty_ = false;
    }
    if (read_fd_ >= 0 && read_seq_ == it->seq) {
      ::close(read_fd_);
      read_fd_ = -1;
      buf_.clear();
    }
    if (::unlink(it->path.c_str()) != 0 && errno != ENOENT) {
      log::error("usage spool: cannot delete a replayed segment", {{"path", it->path}, {"error", errno_text(errno)}});
    }
    bytes_ -= std::min(bytes_, it->size);
    full_ = false;
    it = segments_.erase(it);
  }
}

bool Spool::has_unread() const {
  return std::any_of(segments_.begin(), segments_.end(), [](const Segment& s) {
    return !s.header_checked || s.read_offset < s.size;
  });
}

std::uint64_t Spool::outstanding() const {
  std::uint64_t n = 0;
  for (const auto& s : segments_) n += s.outstanding;
  return n;
}

}  // namespace tollgate::usage
