// load_gen: flags -> run the open-loop schedule -> print the report (issue 8's benchmark).
#include <cstdio>
#include <string>
#include <vector>

#include "open_loop.hpp"
#include "options.hpp"

namespace {

double ms(std::uint32_t us) { return static_cast<double>(us) / 1000.0; }

// JSON string contents: the error examples are server text and may hold anything.
std::string json_escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void print_report(const load_gen::Options& options, const load_gen::Report& report) {
  using load_gen::percentile;
  const auto& lat = report.latencies_us;
  const double wall_s = static_cast<double>(report.wall.count()) / 1e6;
  const double rate = wall_s > 0 ? static_cast<double>(report.ok) / wall_s : 0;
  const std::uint32_t max = lat.empty() ? 0 : lat.back();
  if (options.json) {
    std::printf("{\"target_rate\":%.1f,\"connections\":%u,\"scheduled\":%llu,\"sent\":%llu,\"ok\":%llu,"
                "\"errors\":%llu,\"late\":%llu,\"rate\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
                "\"p999_ms\":%.3f,\"max_ms\":%.3f,\"error_kinds\":{",
                options.rate, options.connections, static_cast<unsigned long long>(report.scheduled),
                static_cast<unsigned long long>(report.sent), static_cast<unsigned long long>(report.ok),
                static_cast<unsigned long long>(report.errors), static_cast<unsigned long long>(report.late),
                rate, ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)),
                ms(percentile(lat, 99.9)), ms(max));
    const char* separator = "";
    for (const auto& [kind, error] : report.error_kinds) {
      std::printf("%s\"%s\":{\"count\":%llu,\"first\":\"%s\"}", separator, json_escape(kind).c_str(),
                  static_cast<unsigned long long>(error.count), json_escape(error.example).c_str());
      separator = ",";
    }
    std::printf("}}\n");
  } else {
    std::printf("target_rate %.1f\nconnections %u\nscheduled %llu\nsent %llu\nok %llu\nerrors %llu\n"
                "late %llu\nrate %.1f\np50_ms %.3f\np90_ms %.3f\np99_ms %.3f\np999_ms %.3f\nmax_ms %.3f\n",
                options.rate, options.connections, static_cast<unsigned long long>(report.scheduled),
                static_cast<unsigned long long>(report.sent), static_cast<unsigned long long>(report.ok),
                static_cast<unsigned long long>(report.errors), static_cast<unsigned long long>(report.late),
                rate, ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)),
                ms(percentile(lat, 99.9)), ms(max));
    for (const auto& [kind, error] : report.error_kinds) {
      std::fprintf(stderr, "load_gen: %llu x %s (first: %s)\n", static_cast<unsigned long long>(error.count),
                   kind.c_str(), error.example.c_str());
    }
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  load_gen::Options options;
  try {
    options = load_gen::parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const load_gen::OptionsError& e) {
    std::fprintf(stderr, "load_gen: %s\n%s", e.what(), load_gen::usage_text().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(load_gen::usage_text().c_str(), stdout);
    return 0;
  }
  const load_gen::Report report = load_gen::run_open_loop(options);
  print_report(options, report);
  return report.errors == 0 ? 0 : 1;
}
