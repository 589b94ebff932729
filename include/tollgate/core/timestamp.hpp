#pragma once
// RFC 3339 UTC timestamps, the one format of logs, usage events and API replies.
#include <chrono>
#include <string>

namespace tollgate {

// 2026-11-22T10:00:00.123Z
void append_rfc3339_ms(std::string& out, std::chrono::system_clock::time_point at);
std::string rfc3339_ms(std::chrono::system_clock::time_point at);

// 2026-11-22T10:00:00Z
std::string rfc3339(std::chrono::sys_seconds at);

}  // namespace tollgate
