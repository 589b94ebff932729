#pragma once
// `mock_upstream --self-check`: checks the pure request/response functions without sockets.

namespace mock_upstream {

// Prints each failed check to stderr; returns true when all pass.
bool run_self_check();

}  // namespace mock_upstream
