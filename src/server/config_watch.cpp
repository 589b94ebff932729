#include "config_watch.hpp"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "tollgate/core/log.hpp"

namespace tollgate::server {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

// What a watched directory's events are filtered by.
struct DirFilter {
  std::set<std::string, std::less<>> files;  // exact names (watched files, symlinked directories)
  bool yaml = false;                         // any *.yaml / *.yml name (a watched directory)
};

struct Dir {
  std::string path;
  DirFilter filter;
};

// Every way a file in the directory can be written, replaced or removed, and the directory itself
// going away. IN_EXCL_UNLINK: no events for files that were unlinked while open.
// No IN_MODIFY: a write in place is seen when the writer closes the file (IN_CLOSE_WRITE), and
// a log or usage file kept open in the same directory then costs no wake-up per write(2).
constexpr std::uint32_t kDirMask = IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE |
                                   IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;

// The config loader's rule for the files of a tenants directory (src/config/file_source.cpp):
// *.yaml or *.yml, hidden names excluded.
bool is_yaml_file_name(std::string_view name) {
  if (name.empty() || name.front() == '.') return false;
  return name.ends_with(".yaml") || name.ends_with(".yml");
}

bool is_symlink(const std::string& dir, std::string_view name) {
  struct stat st {};
  std::string path = dir;
  path += '/';
  path += name;
  return ::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode);
}

std::string errno_message(int error) { return std::system_category().message(error); }

// Directory -> filter for `paths`: a directory is watched itself; a file (or a missing path, or
// a symlink to a directory, which can be swapped) through its parent, by name.
std::map<std::string, DirFilter> plan(const std::vector<std::string>& paths) {
  std::map<std::string, DirFilter> dirs;
  for (const auto& p : paths) {
    fs::path path = fs::path(p).lexically_normal();
    if (!path.has_filename()) path = path.parent_path();  // "dir/" -> "dir"
    if (path.empty()) continue;
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    const bool is_dir = fs::is_directory(status);
    if (!fs::exists(status)) log::warn("watched configuration path missing; watching for it to appear", {{"path", p}});
    const std::string parent = path.has_parent_path() ? path.parent_path().string() : std::string(".");
    if (is_dir) {
      dirs[path.string()].yaml = true;
      if (!fs::is_symlink(fs::symlink_status(path, ec))) continue;
    }
    dirs[parent].files.insert(path.filename().string());
  }
  return dirs;
}

}  // namespace

namespace detail {

struct ConfigWatchState {
  ConfigWatchState(asio::any_io_executor executor, std::chrono::milliseconds debounce,
                   std::function<void()> on_change)
      : debounce(debounce), on_change(std::move(on_change)), stream(executor), timer(executor) {}

  std::chrono::milliseconds debounce;
  std::function<void()> on_change;
  asio::posix::stream_descriptor stream;  // owns the inotify descriptor
  asio::steady_timer timer;               // the quiet period
  // Bumped each time the timer is re-armed: a wait that had already completed when it was
  // re-armed cannot be cancelled, so its handler checks it is still the latest.
  std::uint64_t generation = 0;
  std::map<int, Dir> dirs;                // by inotify watch descriptor
  // Directories whose watch went away (deleted, moved, unmounted); watched again when the
  // change fires, before on_change, so a re-created directory is seen.
  std::map<std::string, DirFilter> lost;
  bool stopped = false;
  std::uint64_t events_read = 0;
};

}  // namespace detail

namespace {

using State = detail::ConfigWatchState;

void lose(State& s, std::map<int, Dir>::iterator it) {
  auto& filter = s.lost[it->second.path];
  filter.files.merge(it->second.filter.files);
  filter.yaml = filter.yaml || it->second.filter.yaml;
  s.dirs.erase(it);
}

// Adds (or updates) the watch on `dir`; false, logged, when it cannot.
bool add_watch(State& s, const std::string& dir, const DirFilter& filter) {
  const int wd = ::inotify_add_watch(s.stream.native_handle(), dir.c_str(), kDirMask);
  if (wd < 0) {
    // ENOENT, ENOTDIR, EACCES, or ENOSPC when fs.inotify.max_user_watches is reached.
    log::warn("cannot watch configuration directory", {{"directory", dir}, {"error", errno_message(errno)}});
    return false;
  }
  // Two paths naming one directory (symlinks) get one watch descriptor: merge the filters.
  Dir& entry = s.dirs[wd];
  if (entry.path.empty()) entry.path = dir;
  entry.filter.files.insert(filter.files.begin(), filter.files.end());
  entry.filter.yaml = entry.filter.yaml || filter.yaml;
  return true;
}

// Whether `event` is a change to a watched file. May drop the watch of a directory that went away.
bool relevant(State& s, const inotify_event& event, std::string_view name) {
  if (event.mask & IN_Q_OVERFLOW) {
    log::warn("inotify queue overflowed; treating it as a configuration change");
    return true;
  }
  const auto it = s.dirs.find(event.wd);
  if (it == s.dirs.end()) return false;  // a watch replaced by watch(); its queued events are stale
  if (event.mask & IN_IGNORED) {         // the directory was deleted or unmounted
    lose(s, it);
    return true;
  }
  if (event.mask & IN_MOVE_SELF) {  // the watch would follow the directory to its new name
    ::inotify_rm_watch(s.stream.native_handle(), event.wd);
    lose(s, it);
    return true;
  }
  if (event.mask & (IN_DELETE_SELF | IN_UNMOUNT)) return true;  // IN_IGNORED follows
  if (name.empty()) return false;                               // the directory's own attributes
  const Dir& dir = it->second;
  if (dir.filter.files.contains(name)) return true;
  if (event.mask & IN_ISDIR) return false;
  if (dir.filter.yaml && is_yaml_file_name(name)) return true;
  // A ConfigMap update renames a new `..data` symlink over the old one; the watched names are
  // symlinks through it and do not change themselves.
  return (event.mask & (IN_CREATE | IN_MOVED_TO)) && is_symlink(dir.path, name);
}

// Reads every queued event; whether any was relevant. Closes the descriptor on a read error
// other than "nothing more to read" (file watching then stops; SIGHUP still works).
bool drain(State& s) {
  alignas(inotify_event) std::array<char, 16 * 1024> buffer;
  bool changed = false;
  for (;;) {
    const ssize_t n = ::read(s.stream.native_handle(), buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) {
      log::warn("cannot read inotify events; configuration file watching stopped",
                {{"error", n < 0 ? errno_message(errno) : std::string("end of file")}});
      boost::system::error_code ignored;
      s.stream.close(ignored);
      break;
    }
    for (std::size_t at = 0; at + sizeof(inotify_event) <= static_cast<std::size_t>(n);) {
      inotify_event event;
      std::memcpy(&event, buffer.data() + at, sizeof event);
      const char* name = buffer.data() + at + sizeof(inotify_event);
      ++s.events_read;
      if (relevant(s, event, std::string_view(name, ::strnlen(name, event.len)))) changed = true;
      at += sizeof(inotify_event) + event.len;
    }
  }
  return changed;
}

void fire(State& s) {
  auto lost = std::exchange(s.lost, {});
  for (const auto& [dir, filter] : lost) {
    if (!add_watch(s, dir, filter)) s.lost[dir] = filter;  // retried on the next change
  }
  try {
    s.on_change();
  } catch (const std::exception& e) {
    log::error("configuration change handler failed", {{"error", e.what()}});
  }
}

// (Re)starts the quiet period; the change fires when it ends without another relevant event.
void arm(const std::shared_ptr<State>& state) {
  const std::uint64_t generation = ++state->generation;
  state->timer.expires_after(state->debounce);
  state->timer.async_wait([weak = std::weak_ptr<State>(state), generation](const boost::system::error_code& ec) {
    const auto s = weak.lock();
    if (!s || s->stopped || ec || generation != s->generation) return;
    fire(*s);
  });
}

void wait_readable(const std::shared_ptr<State>& state) {
  state->stream.async_wait(
      asio::posix::stream_descriptor::wait_read, [weak = std::weak_ptr<State>(state)](const boost::system::error_code& ec) {
        const auto s = weak.lock();
        if (!s || s->stopped || ec == asio::error::operation_aborted) return;
        if (ec) {
          log::warn("cannot wait for inotify events; configuration file watching stopped", {{"error", ec.message()}});
          return;
        }
        if (drain(*s)) arm(s);
        if (s->stream.is_open()) wait_readable(s);
      });
}

std::string join(const std::vector<std::string>& paths) {
  std::string out;
  for (const auto& p : paths) {
    if (!out.empty()) out += ", ";
    out += p;
  }
  return out;
}

}  // namespace

ConfigWatch::ConfigWatch(asio::any_io_executor executor, std::chrono::milliseconds debounce,
                         std::function<void()> on_change)
    : state_(std::make_shared<State>(std::move(executor), debounce, std::move(on_change))) {}

ConfigWatch::~ConfigWatch() { stop(); }

std::uint64_t ConfigWatch::events_read() const { return state_->events_read; }

void ConfigWatch::watch(const std::vector<std::string>& paths) {
  State& s = *state_;
  if (s.stopped) return;
  if (!s.stream.is_open()) {
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      // EMFILE when fs.inotify.max_user_instances is reached.
      log::warn("cannot watch configuration files; reload with SIGHUP", {{"error", errno_message(errno)}});
      return;
    }
    s.stream.assign(fd);
    wait_readable(state_);
  }
  // Keep one inotify instance: events already queued for directories that stay watched
  // (a change made while a reload was reading) are not lost.
  std::map<int, Dir> previous = std::exchange(s.dirs, {});
  s.lost.clear();
  for (const auto& [dir, filter] : plan(paths)) add_watch(s, dir, filter);
  for (const auto& [wd, dir] : previous) {
    if (!s.dirs.contains(wd)) ::inotify_rm_watch(s.stream.native_handle(), wd);
  }
  log::info("watching configuration files for changes",
            {{"paths", join(paths)}, {"directories", std::to_string(s.dirs.size())}});
}

void ConfigWatch::stop() {
  State& s = *state_;
  if (s.stopped) return;
  s.stopped = true;
  s.timer.cancel();
  boost::system::error_code ignored;
  s.stream.close(ignored);  // closing the inotify descriptor drops every watch
  s.dirs.clear();
  s.lost.clear();
}

std::vector<std::string> watched_paths(const config::Config& config) {
  std::vector<std::string> paths;
  if (!config.source_file.empty()) paths.push_back(config.source_file);
  if (!config.tenants_path.empty() && config.tenants_path != config.source_file) paths.push_back(config.tenants_path);
  return paths;
}

}  // namespace tollgate::server
