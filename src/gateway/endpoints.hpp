#pragma once
// Gateway (route table): which OpenAI endpoint a method and path name.
#include <string_view>

#include <boost/beast/http/verb.hpp>

#include "tollgate/api/request_fields.hpp"
#include "tollgate/core/error.hpp"

namespace tollgate::gateway {

enum class Endpoint { chat_completions, completions, embeddings, models, usage };

// not_found for unknown paths, method_not_allowed for a known path with the wrong method.
Result<Endpoint> match_endpoint(boost::beast::http::verb method, std::string_view path);

// The api module's view of a forwarded endpoint (models and usage are never forwarded).
api::Endpoint api_endpoint(Endpoint endpoint);

// The provider path appended to its base URL, e.g. "/chat/completions".
std::string_view upstream_path(Endpoint endpoint);

}  // namespace tollgate::gateway
