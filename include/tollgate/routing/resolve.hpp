#pragma once
// The route stage: map the model a tenant asked for to a configured model and its provider,
// applying the plan's allow-list and downgrade map; also the model list of GET /v1/models.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tollgate/config/config.hpp"
#include "tollgate/core/error.hpp"

namespace tollgate::routing {

// Where a request goes. Non-owning: both pointers point into the Config snapshot the request
// holds and are never null.
struct Route {
  const config::Model* model;
  const config::Provider* provider;
  // The model the client asked for when the plan's downgrade map replaced it; the gateway
  // rewrites the body's `model` and sends `x-tollgate-downgraded-from`.
  std::optional<std::string> downgraded_from;
};

// In order:
//   1. the requested model is configured and allowed (no allow-list, or on it) -> it;
//   2. the tenant's downgrade map names a configured, allowed target for it -> the target;
//   3. the requested model is not configured -> 404 model_not_found (param "model");
//   4. otherwise -> 403 model_not_allowed (param "model").
// Messages echo at most 256 bytes of the requested name, unescaped (the serialiser escapes).
Result<Route> resolve(const config::Config& config, const config::Tenant& tenant,
                      std::string_view requested_model);

// Where `route` goes instead once the tenant's spend has passed Limits::downgrade_at: the
// plan's downgrade target for route.model, when the plan sets downgrade_at and the target is
// configured and allowed; nullopt otherwise (or when `route` is already a downgrade). Only the
// store knows the spend, so admission chooses between `route` and this one atomically.
std::optional<Route> spend_downgrade(const config::Config& config, const config::Tenant& tenant,
                                     const Route& route);

// The models `tenant` may name directly, sorted by name: the configured models on its
// allow-list, or every configured model when it has none. Downgrade targets that are not on
// the list are not included.
std::vector<const config::Model*> visible_models(const config::Config& config,
                                                 const config::Tenant& tenant);

}  // namespace tollgate::routing
