// Parses the mock upstream's command line into Options.
#include "options.hpp"

#include <charconv>
#include <limits>
#include <optional>

namespace mock_upstream {
namespace {

std::uint64_t parse_number(const std::string& flag, const std::string& text, std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end || value > max) {
    throw OptionsError(flag + ": expected an integer in [0, " + std::to_string(max) + "], got '" +
                       text + "'");
  }
  return value;
}

// "127.0.0.1:8080" or "[::1]:0".
void parse_listen(const std::string& text, Options& options) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    throw OptionsError("--listen: expected HOST:PORT, got '" + text + "'");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  options.listen_host = host;
  options.listen_port =
      static_cast<std::uint16_t>(parse_number("--listen", text.substr(colon + 1), 65535));
}

}  // namespace

std::string usage_text() {
  return "usage: mock_upstream [--listen HOST:PORT] [--threads N] [--chunk-delay-ms D]\n"
         "                     [--first-byte-delay-ms D] [--completion-tokens N]\n"
         "                     [--no-usage] [--sse-comments] [--timestamps]\n"
         "                     [--tls-cert FILE --tls-key FILE] [--self-check]\n"
         "                     [--h2 [--max-concurrent-streams N] [--goaway-after N]]\n"
         "--h2: also speak HTTP/2 (h2c prior knowledge on plain TCP, ALPN h2 over TLS);\n"
         "  --max-concurrent-streams: its SETTINGS value (default 100); --goaway-after N:\n"
         "  GOAWAY on each connection after its Nth stream (later streams are refused)\n"
         "Prints 'listening HOST:PORT' on stdout once every listener is bound.\n"
         "--tls-cert/--tls-key (PEM, both or neither): serve every connection over TLS 1.2+\n"
         "with ALPN http/1.1.\n"
         "--timestamps: every streamed chunk's JSON carries \"mock_sent_us\", CLOCK_MONOTONIC\n"
         "microseconds when it was written (for latency benchmarks on the same machine).\n"
         "GET /mock/stats counts requests, connections, tls_handshake_failures and streams\n"
         "(started, completed, aborted, reset, active).\n";
}

Options parse_options(const std::vector<std::string>& args) {
  Options options;
  constexpr std::uint64_t kMaxMs = 3'600'000;
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
    auto no_value = [&] {
      if (inline_value) throw OptionsError(flag + ": takes no value");
    };
    if (flag == "--listen") {
      parse_listen(value(), options);
    } else if (flag == "--threads") {
      options.threads = static_cast<unsigned>(parse_number(flag, value(), 256));
      if (options.threads == 0) throw OptionsError("--threads: must be at least 1");
    } else if (flag == "--chunk-delay-ms") {
      options.defaults.chunk_delay_ms = static_cast<std::uint32_t>(parse_number(flag, value(), kMaxMs));
    } else if (flag == "--first-byte-delay-ms") {
      options.defaults.first_byte_delay_ms =
          static_cast<std::uint32_t>(parse_number(flag, value(), kMaxMs));
    } else if (flag == "--completion-tokens") {
      options.defaults.completion_tokens =
          static_cast<std::uint32_t>(parse_number(flag, value(), kMaxCompletionTokens));
    } else if (flag == "--tls-cert") {
      options.tls_cert = value();
      if (options.tls_cert.empty()) throw OptionsError("--tls-cert: empty file name");
    } else if (flag == "--tls-key") {
      options.tls_key = value();
      if (options.tls_key.empty()) throw OptionsError("--tls-key: empty file name");
    } else if (flag == "--no-usage") {
      no_value();
      options.defaults.no_usage = true;
    } else if (flag == "--sse-comments") {
      no_value();
      options.defaults.sse_comments = true;
    } else if (flag == "--timestamps") {
      no_value();
      options.defaults.timestamps = true;
    } else if (flag == "--h2") {
      no_value();
      options.h2 = true;
    } else if (flag == "--max-concurrent-streams") {
      options.max_concurrent_streams = static_cast<std::uint32_t>(parse_number(flag, value(), 1u << 20));
      if (options.max_concurrent_streams == 0) throw OptionsError("--max-concurrent-streams: must be at least 1");
    } else if (flag == "--goaway-after") {
      options.goaway_after = static_cast<std::uint32_t>(parse_number(flag, value(), 1u << 30));
    } else if (flag == "--self-check") {
      no_value();
      options.self_check = true;
    } else if (flag == "--help" || flag == "-h") {
      options.help = true;
    } else {
      throw OptionsError("unknown flag '" + flag + "'");
    }
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw OptionsError("--tls-cert and --tls-key go together");
  }
  return options;
}

}  // namespace mock_upstream
