#include "access_log.hpp"

#include "tollgate/core/log.hpp"

namespace tollgate::gateway {

void write_access_log(const AccessRecord& r) {
  if (!log::enabled(log::Level::info)) return;
  const std::string status = std::to_string(r.status);
  const std::string input = std::to_string(r.input_tokens.value);
  const std::string output = std::to_string(r.output_tokens.value);
  const std::string cost = std::to_string(r.cost.value);
  const std::string latency = std::to_string(r.latency_ms);
  const std::string ttft = r.ttft_ms < 0 ? std::string{} : std::to_string(r.ttft_ms);
  log::info("request", {{"request_id", r.request_id},
                        {"tenant", r.tenant},
                        {"key", r.key_name},
                        {"key_prefix", r.key_prefix},
                        {"route", r.route},
                        {"model_requested", r.model_requested},
                        {"model", r.model},
                        {"status", status},
                        {"error", r.error_code},
                        {"stream", r.stream ? "true" : "false"},
                        {"outcome", r.outcome},
                        {"token_source", r.token_source},
                        {"input_tokens", input},
                        {"output_tokens", output},
                        {"cost_nano_usd", cost},
                        {"latency_ms", latency},
                        {"ttft_ms", ttft}});
}

}  // namespace tollgate::gateway
