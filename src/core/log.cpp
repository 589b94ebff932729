#include "tollgate/core/log.hpp"

#include "tollgate/core/json_string.hpp"
#include "tollgate/core/timestamp.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

namespace tollgate::log {
namespace {

std::atomic<Level> g_level{Level::info};

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

}  // namespace

void set_level(Level level) { g_level.store(level, std::memory_order_relaxed); }

bool enabled(Level level) { return level >= g_level.load(std::memory_order_relaxed); }

void write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line;
  line.reserve(128 + message.size());
  line += "{\"ts\":\"";
  append_rfc3339_ms(line, std::chrono::system_clock::now());
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  append_json_string(line, message);
  for (const auto& [name, value] : fields) {
    line += ',';
    append_json_string(line, name);
    line += ':';
    append_json_string(line, value);
  }
  line += "}\n";
  // One write(2) per line: concurrent lines from several workers never interleave.
  [[maybe_unused]] const auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace tollgate::log
