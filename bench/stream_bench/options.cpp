// Parses stream_bench's command line into Options.
#include "options.hpp"

#include <charconv>
#include <optional>

namespace stream_bench {
namespace {

std::uint64_t parse_number(const std::string& flag, const std::string& text, std::uint64_t min,
                           std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value < min || value > max) {
    throw OptionsError(flag + ": expected an integer in [" + std::to_string(min) + ", " +
                       std::to_string(max) + "], got '" + text + "'");
  }
  return value;
}

// "127.0.0.1:PORT"; any other host is refused (the benchmark is loopback only).
void parse_target(const std::string& text, Options& options) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || text.substr(0, colon) != "127.0.0.1") {
    throw OptionsError("--target: expected 127.0.0.1:PORT, got '" + text + "'");
  }
  options.port = static_cast<std::uint16_t>(parse_number("--target", text.substr(colon + 1), 1, 65535));
}

}  // namespace

std::string usage_text() {
  return "usage: stream_bench --target 127.0.0.1:PORT [--path P] [--key KEY] [--model M]\n"
         "                    [--streams N] [--tokens T] [--chunk-delay-ms D]\n"
         "                    [--ramp-ms R] [--deadline-s S] [--self-check]\n"
         "Opens N concurrent HTTP/1.1 streams (started evenly over R ms), each asking the mock\n"
         "upstream for T content chunks D ms apart with \"mock\":{\"timestamps\":true}, and reports\n"
         "per-chunk delivery latency (now - mock_sent_us, CLOCK_MONOTONIC) and stream outcomes.\n"
         "The last line is 'summary key=value ...'. Exit 0 when every stream succeeded, 1 if not,\n"
         "2 on a bad command line. Defaults: --path /v1/chat/completions --model bench-chat\n"
         "--streams 100 --tokens 100 --chunk-delay-ms 50 --ramp-ms 2000 --deadline-s 60; no key.\n";
}

Options parse_options(const std::vector<std::string>& args) {
  Options options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (const auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw OptionsError(flag + ": missing value");
      return args[++i];
    };
    if (flag == "--target") {
      parse_target(value(), options);
    } else if (flag == "--path") {
      options.path = value();
      if (options.path.empty() || options.path.front() != '/') {
        throw OptionsError("--path: must start with '/'");
      }
    } else if (flag == "--key") {
      options.key = value();
    } else if (flag == "--model") {
      options.model = value();
      if (options.model.find_first_of("\"\\") != std::string::npos) {
        throw OptionsError("--model: no quotes or backslashes");
      }
    } else if (flag == "--streams") {
      options.streams = static_cast<unsigned>(parse_number(flag, value(), 1, 100'000));
    } else if (flag == "--tokens") {
      options.completion_tokens = static_cast<unsigned>(parse_number(flag, value(), 1, 100'000));
    } else if (flag == "--chunk-delay-ms") {
      options.chunk_delay_ms = static_cast<unsigned>(parse_number(flag, value(), 0, 60'000));
    } else if (flag == "--ramp-ms") {
      options.ramp = std::chrono::milliseconds(parse_number(flag, value(), 0, 600'000));
    } else if (flag == "--deadline-s") {
      options.deadline = std::chrono::seconds(parse_number(flag, value(), 1, 3600));
    } else if (flag == "--self-check") {
      if (inline_value) throw OptionsError(flag + ": takes no value");
      options.self_check = true;
    } else if (flag == "--help" || flag == "-h") {
      options.help = true;
    } else {
      throw OptionsError("unknown flag '" + flag + "'");
    }
  }
  if (!options.help && !options.self_check && options.port == 0) throw OptionsError("--target is required");
  return options;
}

}  // namespace stream_bench
