#pragma once
// Config stage: parses the text of one config file into a single YAML document, turning
// syntax errors into diagnostics and guarding against yaml-cpp 0.7 parser loops.
#include <optional>
#include <string>

#include <yaml-cpp/yaml.h>

#include "yaml_reader.hpp"

namespace tollgate::config::detail {

// The document (a null node for an empty file), or nullopt after reporting a syntax error
// or a second document to `ctx`.
std::optional<YAML::Node> parse_document(const FileContext& ctx, const std::string& text);

}  // namespace tollgate::config::detail
