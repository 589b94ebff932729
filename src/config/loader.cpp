#include "loader.hpp"

#include <exception>

#include "diagnostics.hpp"
#include "gateway_file.hpp"
#include "policy_builder.hpp"
#include "tenants_file.hpp"
#include "yaml_document.hpp"
#include "yaml_reader.hpp"

namespace tollgate::config::detail {
namespace {

namespace fs = std::filesystem;

// Parses one YAML file; nullopt (reported) on a syntax error or an unreadable file. An empty
// file is a null document.
std::optional<YAML::Node> parse_file(const FileSource& files, const fs::path& path, Diagnostics& diags,
                                     const std::optional<std::pair<std::string, YAML::Mark>>& referenced_at) {
  const std::string name = path.string();
  diags.add_file(name);
  auto text = files.read(path);
  if (!text.value) {
    // Report where the file is named when we can: that is the line the operator must fix.
    if (referenced_at) {
      diags.error(referenced_at->first, referenced_at->second,
                  "tenants: cannot read " + in_quotes(name) + ": " + text.error);
    } else {
      diags.error(name, YAML::Mark{}, "cannot read " + in_quotes(name) + ": " + text.error);
    }
    return std::nullopt;
  }
  const FileContext ctx{diags, name, path.parent_path()};
  return parse_document(ctx, *text.value);
}

void load_tenants(const FileSource& files, const GatewayFile& gateway, Diagnostics& diags, PolicyDraft& draft) {
  const Config& cfg = gateway.config;
  const fs::path path{cfg.tenants_path};
  const std::pair<std::string, YAML::Mark> referenced_at{cfg.source_file, *gateway.tenants_mark};
  std::vector<fs::path> tenant_files;
  switch (files.kind(path)) {
    case FileSource::Kind::missing:
      diags.error(referenced_at.first, referenced_at.second,
                  "tenants: cannot read " + in_quotes(cfg.tenants_path) + ": No such file or directory");
      return;
    case FileSource::Kind::file:
      tenant_files.push_back(path);
      break;
    case FileSource::Kind::directory:
      tenant_files = files.yaml_files_in(path);
      if (tenant_files.empty()) {
        diags.warning(referenced_at.first, referenced_at.second,
                      "tenants: directory " + in_quotes(cfg.tenants_path) + " has no *.yaml files; every key is refused");
      }
      break;
  }
  for (const fs::path& file : tenant_files) {
    auto root = parse_file(files, file, diags, referenced_at);
    if (!root) continue;
    const FileContext ctx{diags, file.string(), file.parent_path()};
    read_tenants_file(ctx, *root, gateway.model_names, draft);
  }
}

// Reads each provider's CA bundle now, so no worker ever touches the file system.
void read_ca_files(const FileSource& files, const FileContext& ctx, GatewayFile& gateway) {
  for (auto& [name, provider] : gateway.config.providers) {
    if (provider.ca_file.empty()) continue;
    auto pem = files.read(provider.ca_file);
    if (!pem.value) {
      ctx.error(gateway.ca_file_marks[name], "providers." + name + ".ca_file: " + pem.error);
      continue;
    }
    provider.ca_pem = std::move(*pem.value);
  }
}

LoadResult load_unguarded(const FileSource& files, const fs::path& gateway_file, const EnvLookup& env,
                          Diagnostics& diags) {
  LoadResult result;
  auto root = parse_file(files, gateway_file, diags, std::nullopt);
  if (root) {
    const FileContext ctx{diags, gateway_file.string(), gateway_file.parent_path()};
    GatewayFile gateway = read_gateway_file(ctx, *root, env);
    read_ca_files(files, ctx, gateway);
    PolicyDraft draft;
    if (gateway.tenants_mark) {
      load_tenants(files, gateway, diags, draft);
    } else {
      diags.warning(gateway_file.string(), YAML::Mark{}, "no tenants file configured; every key is refused");
    }
    gateway.config.policy = build_policy(std::move(draft), diags);
    if (!diags.has_errors()) result.config = std::make_shared<const Config>(std::move(gateway.config));
  }
  result.errors = diags.sorted_errors();
  result.warnings = diags.sorted_warnings();
  return result;
}

}  // namespace

LoadResult load_with(const FileSource& files, const fs::path& gateway_file, const EnvLookup& env) {
  Diagnostics diags;
  try {
    return load_unguarded(files, gateway_file, env, diags);
  } catch (const std::exception& e) {
    // A bug or resource exhaustion, not bad input; still a diagnostic, never an escape.
    diags.error(gateway_file.string(), YAML::Mark{}, std::string("internal error while loading: ") + e.what());
    LoadResult result;
    result.errors = diags.sorted_errors();
    result.warnings = diags.sorted_warnings();
    return result;
  }
}

}  // namespace tollgate::config::detail
