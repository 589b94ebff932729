#pragma once
// Server stage: listeners, one event loop per worker thread, reload and graceful drain.
#include <functional>
#include <memory>

#include "tollgate/config/config.hpp"

namespace tollgate::server {

// Reloads the configuration (file I/O: called on a helper thread, never on a worker).
// Returns null when the new configuration is invalid; the loader has logged why.
using Reloader = std::function<std::shared_ptr<const config::Config>()>;

// Binds the API and admin listeners and serves until SIGTERM/SIGINT, then drains in-flight
// requests for up to server.shutdown_grace. SIGHUP calls `reload` and swaps the snapshot.
// Throws std::system_error when a listener cannot be bound. Returns the process exit code.
int run(std::shared_ptr<const config::Config> config, Reloader reload);

}  // namespace tollgate::server
