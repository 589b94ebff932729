#pragma once
// Metrics stage: the Prometheus text exposition format (version 0.0.4), written at scrape
// time from values the modules keep. One family = HELP, TYPE, then its samples.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::metrics {

using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

struct Sample {
  Labels labels;
  std::uint64_t value = 0;
};

enum class Type { counter, gauge };

// Appends one metric family to `out`. Label values are escaped (\\, \", \n); names must be valid
// Prometheus names (they are compile-time constants here, never user input).
void write_family(std::string& out, std::string_view name, std::string_view help, Type type,
                  const std::vector<Sample>& samples);

}  // namespace tollgate::metrics
