#pragma once
// Config stage: reads the gateway YAML document (listeners, limits store, usage sink, server
// limits, log settings, providers, models) into a Config whose policy is still empty.
#include <optional>
#include <map>
#include <set>
#include <string>

#include <yaml-cpp/yaml.h>

#include "tollgate/config/config.hpp"
#include "tollgate/config/load.hpp"
#include "yaml_reader.hpp"

namespace tollgate::config::detail {

struct GatewayFile {
  Config config;
  // Every model the file names, valid or not, so tenant files do not repeat the model's
  // own error as "unknown model".
  std::set<std::string> model_names;
  // Where `tenants:` is, to report an unreadable tenants path; nullopt when absent.
  std::optional<YAML::Mark> tenants_mark;
  // Where each provider's `ca_file` is, so the loader can read it and report it there.
  std::map<std::string, YAML::Mark> ca_file_marks;
};

// `root` is the parsed document (null for an empty file). Provider keys are looked up with
// `env`; a missing one is a warning.
GatewayFile read_gateway_file(const FileContext& ctx, const YAML::Node& root, const EnvLookup& env);

}  // namespace tollgate::config::detail
