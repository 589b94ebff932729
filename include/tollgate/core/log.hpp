#pragma once
// Structured logging for every stage: one JSON object per line on stderr, written with a
// single write(2) so lines from different workers never interleave. Callers must never pass
// a key, a key hash, a provider secret or a prompt as a field value.
#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace tollgate::log {

enum class Level { debug, info, warn, error };

using Field = std::pair<std::string_view, std::string_view>;

void set_level(Level level);
bool enabled(Level level);
// Thread-safe; never blocks for longer than one write(2) to stderr.
void write(Level level, std::string_view message, std::initializer_list<Field> fields = {});

inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }

}  // namespace tollgate::log
