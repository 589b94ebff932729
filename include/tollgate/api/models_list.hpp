#pragma once
// Emit stage for GET /v1/models: the models a key's plan allows, in OpenAI's list format.
#include <span>
#include <string>

#include "tollgate/config/config.hpp"

namespace tollgate::api {

// {"object":"list","data":[{"id":"gpt-4o","object":"model","created":0,"owned_by":"openai"}]}
// in the given order; owned_by is the model's provider name. Pointers must be non-null.
std::string models_list_json(std::span<const config::Model* const> models);

}  // namespace tollgate::api
