#include "tollgate/api/models_list.hpp"

#include "tollgate/core/json_string.hpp"

namespace tollgate::api {

std::string models_list_json(std::span<const config::Model* const> models) {
  std::string out = R"({"object":"list","data":[)";
  bool first = true;
  for (const config::Model* model : models) {
    if (!first) out.push_back(',');
    first = false;
    out += R"({"id":)";
    append_json_string(out, model->name);
    // OpenAI reports a creation time; a configured model has none, and 0 keeps the field typed.
    out += R"(,"object":"model","created":0,"owned_by":)";
    append_json_string(out, model->provider);
    out.push_back('}');
  }
  out += "]}";
  return out;
}

}  // namespace tollgate::api
