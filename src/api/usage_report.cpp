#include "tollgate/api/usage_report.hpp"

#include "tollgate/core/json_string.hpp"
#include "tollgate/core/timestamp.hpp"

namespace tollgate::api {

namespace {


void window(std::string& out, const UsageWindow& w) {
  out += R"({"start":")";
  out += rfc3339(w.start);
  out += R"(","resets_at":")";
  out += rfc3339(w.resets_at);
  out += R"(","requests":)";
  out += std::to_string(w.requests);
  out += R"(,"input_tokens":)";
  out += std::to_string(w.input.value);
  out += R"(,"output_tokens":)";
  out += std::to_string(w.output.value);
  out += R"(,"spent_usd":)";
  out += format_usd(w.spent);
  out += R"(,"limit_usd":)";
  out += w.limit ? format_usd(*w.limit) : "null";
  out += '}';
}

void limit(std::string& out, std::string_view name, const std::optional<std::int64_t>& value, bool first = false) {
  if (!first) out += ',';
  append_json_string(out, name);
  out += ':';
  out += value ? std::to_string(*value) : "null";
}

}  // namespace

std::string usage_report_json(std::string_view tenant, std::string_view plan, const UsageWindow& daily,
                              const UsageWindow& monthly, const config::Limits& limits) {
  std::string out = R"({"tenant":)";
  append_json_string(out, tenant);
  out += R"(,"plan":)";
  append_json_string(out, plan);
  out += R"(,"daily":)";
  window(out, daily);
  out += R"(,"monthly":)";
  window(out, monthly);
  out += R"(,"limits":{)";
  limit(out, "requests_per_minute", limits.requests_per_minute, true);
  limit(out, "requests_per_day", limits.requests_per_day);
  limit(out, "tokens_per_minute", limits.tokens_per_minute);
  limit(out, "max_tokens_per_request", limits.max_tokens_per_request);
  limit(out, "max_concurrent", limits.max_concurrent);
  out += "}}";
  return out;
}

}  // namespace tollgate::api
