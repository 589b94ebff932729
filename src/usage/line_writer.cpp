#include "line_writer.hpp"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cerrno>
#include <csignal>
#include <exception>
#include <system_error>
#include <utility>

#include "tollgate/core/log.hpp"

namespace tollgate::usage {
namespace {

// The writer wakes at least this often when idle, to sync and to report drops.
constexpr std::chrono::milliseconds kTick{100};
// At most this many records per worker go into one batch (one write(2) when nothing rotates).
constexpr std::size_t kBatchPerWorker = 1024;
// After writing a batch the writer sleeps this long before it drains again, without asking to
// be woken: under load the records of the next 2 ms go out in one write(2), and the workers
// make no futex wake-up call (they wake the writer only once it has found nothing and sleeps).
// A record waits at most this much longer for its write; an idle writer sleeps as before.
constexpr std::chrono::milliseconds kLinger{2};
// Repeated errors are logged at most once per this interval, with counts.
constexpr std::chrono::seconds kLogInterval{1};

std::string error_text(int error) { return std::generic_category().message(error); }

// A write to a closed pipe (stdout read by nobody) must fail with EPIPE on this thread rather
// than kill the process with SIGPIPE. Other signals stay deliverable.
void block_sigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

std::uint64_t LogThrottle::take(TimePoint now, bool force) {
  if (pending_ == 0) return 0;
  if (!force && reported_ && now - last_ < interval_) return 0;
  reported_ = true;
  last_ = now;
  return std::exchange(pending_, 0);
}

RawWrite write_fully(int fd, std::string_view data) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) return {done, EIO};
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      pollfd p{fd, POLLOUT, 0};
      const int r = ::poll(&p, 1, 1000);
      if (r > 0 || (r < 0 && errno == EINTR)) continue;
      return {done, EAGAIN};
    }
    return {done, errno};
  }
  return {done, 0};
}

std::string_view whole_lines_within(std::string_view lines, std::uint64_t room) {
  if (lines.size() <= room) return lines;
  if (room == 0) return {};
  const std::size_t last_newline = lines.rfind('\n', static_cast<std::size_t>(room) - 1);
  return last_newline == std::string_view::npos ? std::string_view{} : lines.substr(0, last_newline + 1);
}

LineWriter::LineWriter(std::string sink_name, std::size_t workers, Options options,
                       std::unique_ptr<LineOutput> output, std::string subject)
    : name_(std::move(sink_name)),
      subject_(std::move(subject)),
      sync_interval_(options.sync_interval),
      handoff_(workers, options.queue_capacity),
      output_(std::move(output)),
      queue_full_log_(kLogInterval),
      write_error_log_(kLogInterval),
      sync_error_log_(kLogInterval),
      malformed_log_(kLogInterval) {
  thread_ = std::thread([this] { thread_main(); });
}

LineWriter::~LineWriter() { close(); }

void LineWriter::close() {
  std::lock_guard lock(close_mutex_);
  handoff_.close();
  if (thread_.joinable()) thread_.join();
}

SinkStats LineWriter::stats() const {
  SinkStats s;
  s.delivered = delivered_.load(std::memory_order_relaxed);
  s.dropped = handoff_.dropped() + write_dropped_.load(std::memory_order_relaxed);
  return s;
}

void LineWriter::thread_main() {
  block_sigpipe();
  try {
    run();
  } catch (const std::exception& e) {
    // Out of memory building a batch, most likely. Records still queued are lost (counted);
    // from now on every emit is refused and counted (the hand-off is closed).
    ready_.store(false, std::memory_order_relaxed);
    handoff_.close();
    const std::size_t lost = handoff_.drain(SIZE_MAX, [](Record&&) {});
    write_dropped_.fetch_add(lost, std::memory_order_relaxed);
    log::error(message("writer thread failed: records queued are lost"),
               {{"sink", name_}, {"error", e.what()}, {"dropped", std::to_string(lost)}});
  }
}

void LineWriter::run() {
  std::string batch;
  auto last_sync = std::chrono::steady_clock::now();
  bool dirty = false;
  for (;;) {
    // Read before draining: once closed, every record emitted before close() is in the rings.
    const bool closing = handoff_.closed();
    batch.clear();
    std::size_t lines = 0;
    const std::size_t popped = handoff_.drain(kBatchPerWorker, [&](Record&& record) {
      // A payload is one JSON object without a newline; anything else would break JSONL.
      if (record.payload.empty() || record.payload.find('\n') != std::string::npos) {
        write_dropped_.fetch_add(1, std::memory_order_relaxed);
        malformed_log_.add(1);
        malformed_event_id_ = std::move(record.event_id);
        return;
      }
      batch += record.payload;
      batch += '\n';
      ++lines;
    });
    if (lines != 0) {
      write_batch(batch, lines);
      dirty = true;
    }
    const auto now = std::chrono::steady_clock::now();
    if (dirty && now - last_sync >= sync_interval_) {
      sync_output();
      dirty = false;
      last_sync = now;
    }
    report(now, false);
    if (popped != 0 && !closing) std::this_thread::sleep_for(kLinger);
    if (popped == 0) {
      if (closing) break;
      auto timeout = kTick;
      if (dirty) {
        const auto until_sync =
            std::chrono::ceil<std::chrono::milliseconds>(last_sync + sync_interval_ - now);
        timeout = std::clamp(until_sync, std::chrono::milliseconds{1}, kTick);
      }
      handoff_.wait(timeout);
    }
  }
  if (dirty) sync_output();
  report(std::chrono::steady_clock::now(), true);
  output_.reset();
}

void LineWriter::write_batch(std::string_view lines, std::size_t count) {
  const LineOutput::Written w = output_->write(lines);
  // Whole lines written; counted only after a short write (a scan of every byte cost ~1,800
  // instructions per request when it ran on every batch).
  const auto taken = w.bytes == lines.size()
                         ? count
                         : static_cast<std::size_t>(std::count(
                               lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(w.bytes), '\n'));
  delivered_.fetch_add(taken, std::memory_order_relaxed);
  if (w.error == 0 && w.bytes == lines.size()) {
    if (!ready_.exchange(true, std::memory_order_relaxed)) {
      log::info(message("sink writable again"), {{"sink", name_}});
    }
    return;
  }
  const std::size_t lost = count - taken;
  write_dropped_.fetch_add(lost, std::memory_order_relaxed);
  write_error_log_.add(1);
  write_error_dropped_ += lost;
  last_write_error_ = w.error != 0 ? w.error : EIO;
  ready_.store(false, std::memory_order_relaxed);
}

void LineWriter::sync_output() {
  const int error = output_->sync();
  if (error == 0) return;
  sync_error_log_.add(1);
  last_sync_error_ = error;
  ready_.store(false, std::memory_order_relaxed);
}

std::string LineWriter::message(std::string_view rest) const {
  std::string out = subject_;
  out += ' ';
  out += rest;
  return out;
}

void LineWriter::report(LogThrottle::TimePoint now, bool force) {
  const std::uint64_t queue_dropped = handoff_.dropped();
  queue_full_log_.add(queue_dropped - queue_dropped_seen_);
  queue_dropped_seen_ = queue_dropped;
  if (const auto n = queue_full_log_.take(now, force); n != 0) {
    log::error(message("records dropped: hand-off queue full"),
               {{"sink", name_},
                {"dropped", std::to_string(n)},
                {"capacity_per_worker", std::to_string(handoff_.capacity_per_producer())}});
  }
  if (const auto n = write_error_log_.take(now, force); n != 0) {
    log::error(message("sink write failed"),
               {{"sink", name_},
                {"failures", std::to_string(n)},
                {"dropped", std::to_string(std::exchange(write_error_dropped_, 0))},
                {"error", error_text(last_write_error_)}});
  }
  if (const auto n = malformed_log_.take(now, force); n != 0) {
    log::error(message("records dropped: payload empty or contains a newline"),
               {{"sink", name_}, {"dropped", std::to_string(n)}, {"event_id", malformed_event_id_}});
  }
  if (const auto n = sync_error_log_.take(now, force); n != 0) {
    log::error(message("sink sync failed: lines written may not be durable"),
               {{"sink", name_}, {"failures", std::to_string(n)}, {"error", error_text(last_sync_error_)}});
  }
}

}  // namespace tollgate::usage
