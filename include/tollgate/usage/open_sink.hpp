#pragma once
// Emit stage: the sink `usage.sink` names, opened at start-up.
#include <cstddef>
#include <memory>

#include "tollgate/config/config.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// Opens the configured sink for `workers` event-loop threads. Throws std::runtime_error with
// a message fit for the start-up log (never a secret) when it cannot be opened.
std::unique_ptr<Sink> open_sink(const config::UsageConfig& config, std::size_t workers);

}  // namespace tollgate::usage
