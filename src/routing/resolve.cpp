#include "tollgate/routing/resolve.hpp"

#include <cstddef>

namespace tollgate::routing {
namespace {

// Model names come from the request body, which may be megabytes long.
constexpr std::size_t kMaxEchoedName = 256;

// `name` cut to at most kMaxEchoedName bytes on a UTF-8 character boundary, with "..." when cut.
std::string echoed(std::string_view name) {
  if (name.size() <= kMaxEchoedName) return std::string(name);
  std::size_t cut = kMaxEchoedName;
  while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
  return std::string(name.substr(0, cut)) + "...";
}

bool allowed(const config::Tenant& tenant, const std::string& model) {
  return !tenant.models || tenant.models->contains(model);
}

const config::Model* configured(const config::Config& config, const std::string& model) {
  const auto it = config.models.find(model);
  return it == config.models.end() ? nullptr : &it->second;
}

Result<Route> route_to(const config::Config& config, const config::Model& model,
                       std::optional<std::string> downgraded_from) {
  const auto provider = config.providers.find(model.provider);
  // config::load rejects models naming an unknown provider; this only guards a hand-built
  // Config from a null dereference.
  if (provider == config.providers.end()) {
    return fail(Error::upstream_error,
                "The model '" + echoed(model.name) + "' has no provider configured.");
  }
  return Route{&model, &provider->second, std::move(downgraded_from)};
}

// The plan's downgrade target for `requested`, when it is configured and allowed.
const config::Model* downgrade_of(const config::Config& config, const config::Tenant& tenant,
                                  const std::string& requested) {
  const auto down = tenant.downgrade.find(requested);
  if (down == tenant.downgrade.end()) return nullptr;
  const config::Model* target = configured(config, down->second);
  return target != nullptr && allowed(tenant, down->second) ? target : nullptr;
}

}  // namespace

Result<Route> resolve(const config::Config& config, const config::Tenant& tenant,
                      std::string_view requested_model) {
  const std::string requested(requested_model);
  const config::Model* model = configured(config, requested);
  if (model != nullptr && allowed(tenant, requested)) return route_to(config, *model, {});

  if (const config::Model* target = downgrade_of(config, tenant, requested)) {
    return route_to(config, *target, requested);
  }

  if (model == nullptr) {
    return fail(Error::model_not_found,
                "The model '" + echoed(requested_model) + "' does not exist.", "model");
  }
  return fail(Error::model_not_allowed,
              "The model '" + echoed(requested_model) + "' is not allowed on plan '" +
                  tenant.plan + "'.",
              "model");
}

std::optional<Route> spend_downgrade(const config::Config& config, const config::Tenant& tenant,
                                     const Route& route) {
  if (route.downgraded_from || !tenant.limits.downgrade_at) return std::nullopt;
  const config::Model* target = downgrade_of(config, tenant, route.model->name);
  if (target == nullptr || target == route.model) return std::nullopt;
  auto down = route_to(config, *target, route.model->name);
  if (!down) return std::nullopt;
  return *down;
}

std::vector<const config::Model*> visible_models(const config::Config& config,
                                                 const config::Tenant& tenant) {
  // config.models is a std::map, so iterating it yields the models sorted by name.
  std::vector<const config::Model*> models;
  for (const auto& [name, model] : config.models) {
    if (allowed(tenant, name)) models.push_back(&model);
  }
  return models;
}

}  // namespace tollgate::routing
