#include "endpoints.hpp"

#include <array>
#include <string>

namespace tollgate::gateway {
namespace {

struct Entry {
  std::string_view path;
  boost::beast::http::verb method;
  Endpoint endpoint;
};

constexpr std::array kEndpoints{
    Entry{"/v1/chat/completions", boost::beast::http::verb::post, Endpoint::chat_completions},
    Entry{"/v1/completions", boost::beast::http::verb::post, Endpoint::completions},
    Entry{"/v1/embeddings", boost::beast::http::verb::post, Endpoint::embeddings},
    Entry{"/v1/models", boost::beast::http::verb::get, Endpoint::models},
    Entry{"/v1/usage", boost::beast::http::verb::get, Endpoint::usage},
};

}  // namespace

Result<Endpoint> match_endpoint(boost::beast::http::verb method, std::string_view path) {
  // Clients often append a slash to a base_url; "/v1/models/" is the same route.
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (const auto& entry : kEndpoints) {
    if (entry.path != path) continue;
    if (entry.method != method) {
      return fail(Error::method_not_allowed,
                  "Method " + std::string(boost::beast::http::to_string(method)) + " is not allowed on " +
                      std::string(entry.path) + "; use " +
                      std::string(boost::beast::http::to_string(entry.method)) + ".");
    }
    return entry.endpoint;
  }
  return fail(Error::not_found, "Unknown route. See the OpenAI API reference for the supported endpoints.");
}

api::Endpoint api_endpoint(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::completions: return api::Endpoint::completions;
    case Endpoint::embeddings: return api::Endpoint::embeddings;
    case Endpoint::chat_completions:
    case Endpoint::models:
    case Endpoint::usage: break;
  }
  return api::Endpoint::chat_completions;
}

std::string_view upstream_path(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::completions: return "/completions";
    case Endpoint::embeddings: return "/embeddings";
    case Endpoint::models: return "/models";
    case Endpoint::usage:
    case Endpoint::chat_completions: break;
  }
  return "/chat/completions";
}

}  // namespace tollgate::gateway
