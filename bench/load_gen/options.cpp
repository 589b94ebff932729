// Parses load_gen's command line into Options.
#include "options.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

namespace load_gen {
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

// A positive request rate; fractions allowed ("0.5 x nginx's maximum" is rarely an integer).
double parse_rate(const std::string& text) {
  std::size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value) || value <= 0 || value > 10'000'000) {
    throw OptionsError("--rate: expected requests/s in (0, 10000000], got '" + text + "'");
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

// "Name: value" with a token name and no line breaks (it goes into the request verbatim).
std::string parse_header(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == 0 || colon == std::string::npos || text.find_first_of("\r\n") != std::string::npos ||
      text.substr(0, colon).find_first_of(" \t") != std::string::npos) {
    throw OptionsError("--header: expected 'Name: value', got '" + text + "'");
  }
  return text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw OptionsError("--body-file: cannot open '" + path + "'");
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace

std::string usage_text() {
  return "usage: load_gen --target 127.0.0.1:PORT --rate R [--connections N] [--duration-s S]\n"
         "                [--requests N] [--method M] [--path P] [--header 'Name: value']...\n"
         "                [--body TEXT | --body-file FILE] [--timeout-ms T] [--grace-s G] [--json]\n"
         "Open loop: request i is due at start + i / R whatever happened to the earlier ones, and\n"
         "goes out on the first of N keep-alive HTTP/1.1 connections that is free. Its latency is\n"
         "measured from when it was due, not from when it was sent, so a slow server's queueing\n"
         "shows up in the figures (no coordinated omission). Requests are scheduled over S seconds\n"
         "(or N requests at R/s with --requests); late ones get G more seconds to finish.\n"
         "Prints 'key value' lines (or JSON): scheduled, sent, ok (2xx), errors, rate (ok per second\n"
         "of wall time), p50_ms p90_ms p99_ms p999_ms max_ms over ok requests. Exit 0 when every\n"
         "scheduled request was ok, 1 if not, 2 on a bad command line. Defaults: --connections 64\n"
         "--duration-s 5 --method POST --path /v1/chat/completions --timeout-ms 10000 --grace-s 10.\n";
}

Options parse_options(const std::vector<std::string>& args) {
  Options options;
  bool has_rate = false;
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
    } else if (flag == "--rate") {
      options.rate = parse_rate(value());
      has_rate = true;
    } else if (flag == "--connections") {
      options.connections = static_cast<unsigned>(parse_number(flag, value(), 1, 10'000));
    } else if (flag == "--duration-s") {
      options.duration = std::chrono::seconds(parse_number(flag, value(), 1, 3600));
    } else if (flag == "--requests") {
      options.requests = parse_number(flag, value(), 1, 100'000'000);
    } else if (flag == "--method") {
      options.method = value();
      if (options.method.empty() || options.method.find_first_of(" \r\n") != std::string::npos) {
        throw OptionsError("--method: expected a token such as GET or POST");
      }
    } else if (flag == "--path") {
      options.path = value();
      if (options.path.empty() || options.path.front() != '/' ||
          options.path.find_first_of(" \r\n") != std::string::npos) {
        throw OptionsError("--path: must start with '/' and hold no spaces");
      }
    } else if (flag == "--header") {
      options.headers.push_back(parse_header(value()));
    } else if (flag == "--body") {
      options.body = value();
    } else if (flag == "--body-file") {
      options.body = read_file(value());
    } else if (flag == "--timeout-ms") {
      options.timeout = std::chrono::milliseconds(parse_number(flag, value(), 1, 600'000));
    } else if (flag == "--grace-s") {
      options.grace = std::chrono::seconds(parse_number(flag, value(), 0, 600));
    } else if (flag == "--json") {
      if (inline_value) throw OptionsError(flag + ": takes no value");
      options.json = true;
    } else if (flag == "--help" || flag == "-h") {
      options.help = true;
    } else {
      throw OptionsError("unknown flag '" + flag + "'");
    }
  }
  if (options.help) return options;
  if (options.port == 0) throw OptionsError("--target is required");
  if (!has_rate) throw OptionsError("--rate is required");
  if (options.requests != 0) {
    options.duration = std::chrono::milliseconds(
        static_cast<std::int64_t>(std::ceil(static_cast<double>(options.requests) * 1000.0 / options.rate)));
  }
  return options;
}

}  // namespace load_gen
