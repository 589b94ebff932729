#pragma once
// Metrics stage: the Prometheus text exposition format (version 0.0.4), written at scrape
// time from values the modules keep. One family = HELP, TYPE, then its samples.
// Everything here runs at scrape time only (it allocates freely); none of it is thread-bound.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tollgate::metrics {

// (label name, label value). Names are compile-time constants; values come from configured
// names only (SPEC section 7: bounded cardinality) and are escaped when written.
using Label = std::pair<std::string_view, std::string_view>;
using Labels = std::vector<Label>;

struct Sample {
  Labels labels;
  std::uint64_t value = 0;
};

// A gauge sample whose value is not an integer (e.g. tollgate_budget_used_ratio).
struct GaugeSample {
  Labels labels;
  double value = 0;
};

enum class Type { counter, gauge, histogram };

// Appends one metric family to `out`. Label values are escaped (\\, \", \n); names must be valid
// Prometheus names (they are compile-time constants here, never user input).
void write_family(std::string& out, std::string_view name, std::string_view help, Type type,
                  const std::vector<Sample>& samples);

// Appends one gauge family with double values, spelled as append_double does.
void write_gauge_family(std::string& out, std::string_view name, std::string_view help,
                        const std::vector<GaugeSample>& samples);

// The building blocks of the two above, for families rendered by hand (histograms, shards).
// write_header appends the HELP and TYPE lines; write_sample one `name{labels} value` line, with
// `value` already spelled as Prometheus parses it.
void write_header(std::string& out, std::string_view name, std::string_view help, Type type);
void write_sample(std::string& out, std::string_view name, std::span<const Label> labels,
                  std::string_view value);

// Appends `value` as the shortest text that parses back to the same double, independent of the
// C locale; NaN, +Inf and -Inf are spelled as Prometheus expects.
void append_double(std::string& out, double value);

// Appends `whole + nanos / 1e9` as an exact decimal without trailing zeros: (0, 261600) ->
// "0.0002616", (2, 500000000) -> "2.5", (600, 0) -> "600". `nanos` must be below 1e9. Used for
// integer nano-USD and integer nanoseconds, which must never pass through a double.
void append_nano_decimal(std::string& out, std::uint64_t whole, std::uint32_t nanos);

}  // namespace tollgate::metrics
