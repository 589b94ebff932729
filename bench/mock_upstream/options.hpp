#pragma once
// Command-line options of the mock upstream: where to listen, plain TCP or TLS, how many workers,
// and the defaults for the per-request "mock" knobs.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mock_request.hpp"

namespace mock_upstream {

struct Options {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0 picks a free port
  unsigned threads = 1;           // one io_context and one SO_REUSEPORT acceptor per thread
  // PEM files; both set (every connection is TLS) or both empty (plain TCP).
  std::string tls_cert;
  std::string tls_key;
  // HTTP/2 as well as HTTP/1.1: h2c with prior knowledge on plain TCP (told apart by the
  // connection preface), h2 by ALPN over TLS.
  bool h2 = false;
  std::uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  std::uint32_t goaway_after = 0;              // GOAWAY after this many streams per connection; 0 = never
  Defaults defaults;
  bool self_check = false;        // run the built-in checks of the pure functions and exit
  bool help = false;
};

// Bad command line; the message names the offending flag.
class OptionsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses argv[1..]; throws OptionsError on an unknown flag, a bad value or only one of
// --tls-cert / --tls-key (start-up only). Does not open the TLS files: the Server does.
Options parse_options(const std::vector<std::string>& args);

std::string usage_text();

}  // namespace mock_upstream
