#pragma once
// Command line (SPEC section 2): parses the flags and runs the one-shot commands.
// Runs before any event loop exists, so blocking I/O and exceptions are fine here.
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace tollgate::cli {

enum class Command { serve, check, keygen, hash_key, version, help };

struct Flags {
  Command command = Command::serve;
  std::string config_path = "conf/tollgate.yaml";
  std::string tenant;  // keygen
  std::string name = "default";  // keygen
};

// Parses argv. On a usage error returns nullopt and writes the reason and usage to `err`.
std::optional<Flags> parse_flags(const std::vector<std::string>& args, std::ostream& err);

void print_usage(std::ostream& out);
int run_check(const Flags& flags, std::ostream& out, std::ostream& err);
int run_keygen(const Flags& flags, std::ostream& out, std::ostream& err);
int run_hash_key(std::istream& in, std::ostream& out, std::ostream& err);
int run_version(std::ostream& out);

}  // namespace tollgate::cli
