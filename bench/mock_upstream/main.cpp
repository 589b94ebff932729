// mock_upstream: a fast, deterministic OpenAI-compatible upstream for Tollgate's tests and
// benchmarks. Flags → server → run.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "log.hpp"
#include "options.hpp"
#include "self_check.hpp"
#include "server.hpp"

int main(int argc, char** argv) {
  using namespace mock_upstream;
  Options options;
  try {
    options = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const OptionsError& e) {
    std::fprintf(stderr, "mock_upstream: %s\n%s", e.what(), usage_text().c_str());
    return 2;
  }
  if (options.help) {
    std::fputs(usage_text().c_str(), stdout);
    return 0;
  }
  if (options.self_check) return run_self_check() ? 0 : 1;

  try {
    Server server(options);
    const std::string where = server.listen();
    // Tests wait for exactly this line.
    std::printf("listening %s\n", where.c_str());
    std::fflush(stdout);
    server.run();
  } catch (const std::exception& e) {
    log_line(std::string("fatal: ") + e.what());
    return 1;
  }
  return 0;
}
