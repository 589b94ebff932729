#pragma once
// Server stage (reload): notices when the configuration files change on disk, so the server can
// reload without a SIGHUP. inotify read through Asio on the caller's executor; no extra thread.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "tollgate/config/config.hpp"

namespace tollgate::server {

namespace detail {
struct ConfigWatchState;
}

// Watches configuration files and directories and calls `on_change` once they have been quiet
// for `debounce` after one or more changes.
//
// Editors and deployment tools replace files in different ways, so the watch is on the parent
// directories (filtered by name), never on file inodes: a write in place (seen when the writer
// closes the file, IN_CLOSE_WRITE), a temp file renamed over (IN_MOVED_TO), delete and re-create, and a
// Kubernetes ConfigMap update (a `..data` symlink renamed over in the directory) are all seen.
// A watched directory means "any *.yaml or *.yml file in it" (hidden names excluded, like the
// config loader); in every watched directory, a symlink created or renamed in counts as a
// change too. Other files (the usage log, editor swap files) never trigger.
//
// Threading: every member, and `on_change`, runs on `executor`'s thread (or while it is not
// running). Give it the control thread's executor, never a worker's: it does lstat(2) and
// inotify syscalls inline. `on_change` may call watch(), stop() or destroy the ConfigWatch.
class ConfigWatch {
 public:
  ConfigWatch(boost::asio::any_io_executor executor, std::chrono::milliseconds debounce,
              std::function<void()> on_change);
  ~ConfigWatch();
  ConfigWatch(const ConfigWatch&) = delete;
  ConfigWatch& operator=(const ConfigWatch&) = delete;

  // Replaces what is watched with `paths`: files, and directories (their *.yaml / *.yml files).
  // Call again after each successful reload (the tenants path may have changed); changes already
  // seen still fire. A missing path, a missing parent directory or an inotify limit is logged
  // with log::warn and the rest is watched; never throws for those. A missing file whose
  // directory exists is still watched (its creation counts as a change). No-op after stop().
  void watch(const std::vector<std::string>& paths);

  // Stops watching. Idempotent; after it `on_change` is never called.
  void stop();

  // How many inotify events have been read, relevant or not (for tests: writes to a file kept
  // open next to a watched one must not wake the watch).
  std::uint64_t events_read() const;

 private:
  // Shared with the pending inotify and timer handlers (they hold weak references), because
  // Asio may run a cancelled handler after this object is gone.
  std::shared_ptr<detail::ConfigWatchState> state_;
};

// The files a config snapshot was built from: the gateway file and the tenants file or directory.
std::vector<std::string> watched_paths(const config::Config& config);

}  // namespace tollgate::server
