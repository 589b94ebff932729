#include "tollgate/usage/file_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "line_writer.hpp"
#include "tollgate/core/log.hpp"
#include "tollgate/usage/line_sink.hpp"

namespace tollgate::usage {
namespace {

// Numbers taken by someone else between two rotations are skipped, up to this many in a row.
constexpr int kMaxRenameAttempts = 1000;

std::string error_text(int error) { return std::generic_category().message(error); }

// What the usage file sink's messages call it; open_file_line_sink's callers bring their own.
LineSinkLabels usage_labels() {
  LineSinkLabels labels;
  labels.sink = "file";
  labels.subject = "usage";
  labels.limit_key = "file_max_bytes";
  return labels;
}

[[noreturn]] void throw_start_up_error(std::string_view subject, std::string_view what, const std::string& path,
                                       const std::string& reason) {
  std::string message(subject);
  message += " file sink: cannot ";
  message += what;
  message += ' ';
  message += path;
  message += ": ";
  message += reason;
  throw std::runtime_error(message);
}

// The largest N among "<base>.<N>" and "<base>.<N>.<anything>" (a rotated file someone has
// compressed, say) in `dir`; 0 when there is none. Throws std::runtime_error if `dir` cannot
// be read.
std::uint64_t largest_rotation_index(std::string_view subject, const std::filesystem::path& dir,
                                     const std::string& base) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw_start_up_error(subject, "list", dir.string(), ec.message());
  std::uint64_t largest = 0;
  for (const auto end = std::filesystem::directory_iterator(); it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= base.size() + 1 || name.compare(0, base.size(), base) != 0 ||
        name[base.size()] != '.') {
      continue;
    }
    const char* first = name.data() + base.size() + 1;
    const char* last = name.data() + name.size();
    std::uint64_t n = 0;
    const auto [ptr, err] = std::from_chars(first, last, n);
    if (err != std::errc() || ptr == first || (ptr != last && *ptr != '.')) continue;
    largest = std::max(largest, n);
  }
  if (ec) throw_start_up_error(subject, "list", dir.string(), ec.message());
  return largest;
}

// The file at `path` and its rotation. Writer thread only (constructed on the opening thread).
class FileOutput final : public LineOutput {
 public:
  // Creates the directory if missing and opens the file. Throws std::runtime_error.
  // `labels` name the file in log lines and errors.
  FileOutput(const LineSinkLabels& labels, const std::string& path, std::uint64_t max_bytes)
      : subject_(labels.subject),
        limit_key_(labels.limit_key),
        path_(path),
        max_bytes_(max_bytes),
        rotate_error_log_(std::chrono::seconds(1)) {
    const std::filesystem::path p(path);
    base_ = p.filename().string();
    if (base_.empty() || base_ == "." || base_ == "..") {
      throw_start_up_error(subject_, "open", path, "not a file name");
    }
    const std::filesystem::path dir = p.parent_path();
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw_start_up_error(subject_, "create directory", dir.string(), ec.message());
    next_index_ = largest_rotation_index(subject_, dir, base_) + 1;
    dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd_ < 0) throw_start_up_error(subject_, "open directory", dir.string(), error_text(errno));
    if (const int error = open_file(); error != 0) {
      ::close(dir_fd_);
      throw_start_up_error(subject_, "open", path, error_text(error));
    }
  }

  ~FileOutput() override {
    if (fd_ >= 0) ::close(fd_);
    ::close(dir_fd_);
  }

  FileOutput(const FileOutput&) = delete;
  FileOutput& operator=(const FileOutput&) = delete;

  Written write(std::string_view lines) override {
    std::size_t taken = 0;
    while (taken < lines.size()) {
      if (fd_ < 0) {
        if (const int error = open_file(); error != 0) return {taken, error};
      }
      const std::string_view rest = lines.substr(taken);
      std::string_view chunk = whole_lines_within(rest, size_ < max_bytes_ ? max_bytes_ - size_ : 0);
      if (chunk.empty()) {
        if (size_ > 0 && rotate()) continue;
        // An empty file and a line longer than the limit: the line gets a file of its own.
        // Or the rename failed: keep appending rather than lose records.
        chunk = size_ == 0 ? rest.substr(0, rest.find('\n') + 1) : rest;
      }
      const RawWrite w = write_fully(fd_, chunk);
      if (w.error == 0) {
        size_ += chunk.size();
        taken += chunk.size();
        continue;
      }
      // Cut the file back to its last whole line, so the next line starts clean.
      const std::size_t last_newline = chunk.substr(0, w.bytes).rfind('\n');
      const std::size_t whole = last_newline == std::string_view::npos ? 0 : last_newline + 1;
      if (whole != w.bytes && ::ftruncate(fd_, static_cast<off_t>(size_ + whole)) != 0) {
        // Reopening ends the stray fragment with a newline (open_file).
        ::close(fd_);
        fd_ = -1;
      }
      size_ += whole;
      return {taken + whole, w.error};
    }
    return {taken, 0};
  }

  int sync() override {
    if (fd_ < 0 || ::fdatasync(fd_) == 0) return 0;
    // EINVAL: a special file (a device, a pipe) that cannot be synced; nothing to do.
    return errno == EINVAL ? 0 : errno;
  }

 private:
  // (Re)opens the current file for appending. A file that ends inside a line (a crash during a
  // write) gets a newline first, so the stray fragment stays a line of its own rather than
  // running into the next record. Returns 0 or an errno.
  int open_file() {
    int fd = ::openat(dir_fd_, base_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const bool readable = fd >= 0;
    if (fd < 0 && errno == EACCES) {
      fd = ::openat(dir_fd_, base_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    if (fd < 0) return errno;
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int error = errno;
      ::close(fd);
      return error;
    }
    std::uint64_t size = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
    char last = '\n';
    if (readable && size > 0 && ::pread(fd, &last, 1, static_cast<off_t>(size - 1)) == 1 && last != '\n') {
      if (const RawWrite w = write_fully(fd, "\n"); w.error != 0) {
        ::close(fd);
        return w.error;
      }
      ++size;
      log::warn(subject_ + " file ended inside a line: ended it with a newline", {{"path", path_}});
    }
    fd_ = fd;
    size_ = size;
    return 0;
  }

  // Renames the full file to "<path>.<N>" and starts a new one. Returns false, the current
  // file unchanged, if the rename fails. If the new file cannot be opened, fd_ is left -1 and
  // write() reports the error.
  bool rotate() {
    sync();
    int error = 0;
    bool renamed = false;
    for (int attempt = 0; attempt < kMaxRenameAttempts && !renamed; ++attempt) {
      std::string name = base_;
      name += '.';
      name += std::to_string(next_index_);
      if (::renameat2(dir_fd_, base_.c_str(), dir_fd_, name.c_str(), RENAME_NOREPLACE) == 0) {
        renamed = true;
      } else if (errno == EINVAL || errno == ENOSYS) {
        // A file system without RENAME_NOREPLACE: check, then rename (we are the only writer).
        if (::faccessat(dir_fd_, name.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
          if (::renameat(dir_fd_, base_.c_str(), dir_fd_, name.c_str()) == 0) {
            renamed = true;
          } else {
            error = errno;
            break;
          }
        }
      } else if (errno != EEXIST) {
        error = errno;
        break;
      }
      ++next_index_;  // used now, or already taken by a file we did not write
    }
    if (!renamed) {
      rotate_error_log_.add(1);
      if (const auto n = rotate_error_log_.take(std::chrono::steady_clock::now()); n != 0) {
        log::error(subject_ + " file rotation failed: appending past " + limit_key_,
                   {{"path", path_},
                    {"failures", std::to_string(n)},
                    {"error", error == 0 ? std::string("no free number") : error_text(error)}});
      }
      return false;
    }
    ::close(fd_);
    fd_ = -1;
    size_ = 0;
    open_file();
    ::fsync(dir_fd_);  // the rename and the new file's name survive a crash
    return true;
  }

  const std::string subject_;
  const std::string limit_key_;
  std::string path_;
  std::string base_;        // the file name within its directory
  std::uint64_t max_bytes_;
  int dir_fd_ = -1;
  int fd_ = -1;             // -1 after a failed reopen: retried on the next write
  std::uint64_t size_ = 0;  // of the current file, as this writer made it
  std::uint64_t next_index_ = 1;
  LogThrottle rotate_error_log_;
};

// Opens the file and starts the writer thread.
std::unique_ptr<LineWriter> open_file_writer(const LineSinkLabels& labels, const std::string& path,
                                             std::uint64_t max_bytes, std::size_t workers,
                                             LineSinkOptions options) {
  auto output = std::make_unique<FileOutput>(labels, path, max_bytes);
  return std::make_unique<LineWriter>(labels.sink, workers,
                                      LineWriter::Options{options.queue_capacity, options.sync_interval},
                                      std::move(output), labels.subject);
}

}  // namespace

std::unique_ptr<FileSink> FileSink::open(const config::UsageConfig& config, std::size_t workers,
                                         LineSinkOptions options) {
  const LineSinkLabels labels = usage_labels();
  if (config.file_path.empty() || config.file_path.front() != '/') {
    throw_start_up_error(labels.subject, "open", config.file_path, "usage.file_path must be an absolute path");
  }
  if (config.file_max_bytes == 0) {
    throw_start_up_error(labels.subject, "open", config.file_path, "usage.file_max_bytes must be positive");
  }
  return std::unique_ptr<FileSink>(
      new FileSink(open_file_writer(labels, config.file_path, config.file_max_bytes, workers, options)));
}

std::unique_ptr<Sink> open_file_line_sink(const LineSinkLabels& labels, const std::string& path,
                                          std::uint64_t max_bytes, std::size_t workers, LineSinkOptions options) {
  if (path.empty() || path.front() != '/') {
    throw_start_up_error(labels.subject, "open", path, "the path must be absolute");
  }
  if (max_bytes == 0) throw_start_up_error(labels.subject, "open", path, labels.limit_key + " must be positive");
  return std::make_unique<LineSink>(labels.sink, open_file_writer(labels, path, max_bytes, workers, options));
}

FileSink::FileSink(std::unique_ptr<LineWriter> writer) : writer_(std::move(writer)) {}

FileSink::~FileSink() { close(); }

void FileSink::emit(std::size_t worker, Record record) { writer_->emit(worker, std::move(record)); }

void FileSink::close() { writer_->close(); }

bool FileSink::ready() const { return writer_->ready(); }

SinkStats FileSink::stats() const { return writer_->stats(); }

}  // namespace tollgate::usage
