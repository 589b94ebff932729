#include "tollgate/cli/commands.hpp"

#include <iostream>
#include <iterator>
#include <sstream>

#include "tollgate/auth/key_format.hpp"
#include "tollgate/auth/keygen.hpp"
#include "tollgate/config/load.hpp"

#ifndef TOLLGATE_VERSION
#define TOLLGATE_VERSION "dev"
#endif
#ifndef TOLLGATE_BUILD_TYPE
#define TOLLGATE_BUILD_TYPE "unknown"
#endif

namespace tollgate::cli {

void print_usage(std::ostream& out) {
  out << "usage:\n"
         "  tollgate [--config FILE]                 run the gateway (default conf/tollgate.yaml)\n"
         "  tollgate --check [--config FILE]         validate the config and tenant files\n"
         "  tollgate keygen --tenant T [--name N]    print a new API key and its YAML entry\n"
         "  tollgate hash-key                        read a key on stdin, print its SHA-256 hex\n"
         "  tollgate --version                       print version and build info\n";
}

std::optional<Flags> parse_flags(const std::vector<std::string>& args, std::ostream& err) {
  Flags flags;
  std::size_t i = 0;
  if (!args.empty() && args[0] == "keygen") {
    flags.command = Command::keygen;
    ++i;
  } else if (!args.empty() && args[0] == "hash-key") {
    flags.command = Command::hash_key;
    ++i;
  }
  auto value_of = [&](const std::string& flag) -> std::optional<std::string> {
    if (i + 1 >= args.size()) {
      err << "tollgate: " << flag << " needs a value\n";
      return std::nullopt;
    }
    return args[++i];
  };
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--config" || arg == "-c") {
      auto v = value_of(arg);
      if (!v) return std::nullopt;
      flags.config_path = *v;
    } else if (arg.rfind("--config=", 0) == 0) {
      flags.config_path = arg.substr(9);
    } else if (arg == "--check" && flags.command == Command::serve) {
      flags.command = Command::check;
    } else if (arg == "--version" && flags.command == Command::serve) {
      flags.command = Command::version;
    } else if ((arg == "--help" || arg == "-h")) {
      flags.command = Command::help;
    } else if (arg == "--tenant" && flags.command == Command::keygen) {
      auto v = value_of(arg);
      if (!v) return std::nullopt;
      flags.tenant = *v;
    } else if (arg == "--name" && flags.command == Command::keygen) {
      auto v = value_of(arg);
      if (!v) return std::nullopt;
      flags.name = *v;
    } else {
      err << "tollgate: unknown argument '" << arg << "'\n";
      print_usage(err);
      return std::nullopt;
    }
  }
  if (flags.command == Command::keygen && flags.tenant.empty()) {
    err << "tollgate: keygen needs --tenant T\n";
    return std::nullopt;
  }
  return flags;
}

int run_check(const Flags& flags, std::ostream& out, std::ostream& err) {
  const auto result = config::load(flags.config_path);
  for (const auto& warning : result.warnings) err << warning.to_string() << " (warning)\n";
  for (const auto& error : result.errors) err << error.to_string() << "\n";
  if (!result.errors.empty()) {
    err << result.errors.size() << (result.errors.size() == 1 ? " error\n" : " errors\n");
    return 1;
  }
  out << flags.config_path << ": OK (" << result.config->models.size() << " models, "
      << result.config->policy.tenants.size() << " tenants, " << result.config->policy.key_index.size()
      << " keys)\n";
  return 0;
}

int run_keygen(const Flags& flags, std::ostream& out, std::ostream& err) {
  try {
    const auto key = auth::generate_key();
    out << key.key << "\n";
    out << "# Add under tenants." << flags.tenant << ".keys (the key above is shown only once):\n";
    out << auth::key_entry_yaml(key, flags.name);
    return 0;
  } catch (const std::exception& e) {
    err << "tollgate: keygen failed: " << e.what() << "\n";
    return 1;
  }
}

int run_hash_key(std::istream& in, std::ostream& out, std::ostream& err) {
  const std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (input.empty()) {
    err << "tollgate: hash-key reads the key on stdin\n";
    return 1;
  }
  out << auth::hash_key_input(input) << "\n";
  return 0;
}

int run_version(std::ostream& out) {
  out << "tollgate " << TOLLGATE_VERSION << " (" << TOLLGATE_BUILD_TYPE << ", " << __VERSION__ << ", C++"
      << __cplusplus / 100 << ")\n";
  return 0;
}

}  // namespace tollgate::cli
