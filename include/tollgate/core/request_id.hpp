#pragma once
// Request ids for x-request-id, logs and usage events: unique across workers and restarts
// without coordination (process-random prefix + per-thread counter).
#include <string>

namespace tollgate {

// Thread-safe, lock-free: each thread owns its counter.
std::string next_request_id();

}  // namespace tollgate
