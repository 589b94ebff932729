#include "tollgate/api/usage_report.hpp"

#include <array>
#include <cstdio>

#include "tollgate/core/json_string.hpp"

namespace tollgate::api {

namespace {

std::string rfc3339(std::chrono::sys_seconds at) {
  const auto day = std::chrono::floor<std::chrono::days>(at);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{at - day};
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buffer.data();
}

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
