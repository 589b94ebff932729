#pragma once
// Config stage: reads one tenant policy file (`plans:` and/or `tenants:`) into the draft
// shared by all tenant files. Checks that need only this file and the gateway's model names
// happen here; checks across files happen in build_policy.
#include <set>
#include <string>

#include <yaml-cpp/yaml.h>

#include "policy_draft.hpp"
#include "yaml_reader.hpp"

namespace tollgate::config::detail {

// `root` is the parsed document (null for an empty file); `model_names` are the models the
// gateway file defines.
void read_tenants_file(const FileContext& ctx, const YAML::Node& root, const std::set<std::string>& model_names,
                       PolicyDraft& draft);

}  // namespace tollgate::config::detail
