#include "tollgate/gateway/access_log.hpp"

#include <unistd.h>

#include <string>
#include <utility>

#include "tollgate/core/json_string.hpp"
#include "tollgate/core/timestamp.hpp"
#include "tollgate/usage/line_sink.hpp"

namespace tollgate::gateway {
namespace {

// What the writer's own log lines call it: "access log sink write failed", "sink":"access_log".
usage::LineSinkLabels labels() {
  usage::LineSinkLabels l;
  l.sink = "access_log";
  l.subject = "access log";
  l.limit_key = "log.access_max_bytes";
  return l;
}

// `"name":"value"` after a comma; `name` is a literal that needs no escaping.
void field(std::string& out, std::string_view name, std::string_view value) {
  out += ",\"";
  out += name;
  out += "\":";
  append_json_string(out, value);
}

void number_field(std::string& out, std::string_view name, std::int64_t value) {
  out += ",\"";
  out += name;
  out += "\":\"";
  out += std::to_string(value);
  out += '"';
}

}  // namespace

std::string access_line(const AccessRecord& r, std::chrono::system_clock::time_point now) {
  std::string line;
  line.reserve(512);
  line += "{\"ts\":\"";
  append_rfc3339_ms(line, now);
  line += "\",\"level\":\"info\",\"msg\":\"request\"";
  field(line, "request_id", r.request_id);
  field(line, "tenant", r.tenant);
  field(line, "key", r.key_name);
  field(line, "key_prefix", r.key_prefix);
  field(line, "route", r.route);
  field(line, "model_requested", r.model_requested);
  field(line, "model", r.model);
  number_field(line, "status", r.status);
  field(line, "error", r.error_code);
  field(line, "stream", r.stream ? "true" : "false");
  field(line, "outcome", r.outcome);
  field(line, "token_source", r.token_source);
  number_field(line, "input_tokens", r.input_tokens.value);
  number_field(line, "output_tokens", r.output_tokens.value);
  number_field(line, "cost_nano_usd", r.cost.value);
  number_field(line, "latency_ms", r.latency_ms);
  if (r.ttft_ms < 0) {
    field(line, "ttft_ms", "");
  } else {
    number_field(line, "ttft_ms", r.ttft_ms);
  }
  line += '}';
  return line;
}

std::unique_ptr<AccessLog> AccessLog::open(const config::LogConfig& config, std::size_t workers) {
  std::unique_ptr<usage::Sink> sink;
  switch (config.access) {
    case config::AccessLogTarget::off:
      break;
    case config::AccessLogTarget::stderr_stream:
      sink = usage::open_fd_line_sink(labels(), STDERR_FILENO, workers);
      break;
    case config::AccessLogTarget::file:
      sink = usage::open_file_line_sink(labels(), config.access_path, config.access_max_bytes, workers);
      break;
  }
  return std::unique_ptr<AccessLog>(new AccessLog(std::move(sink)));
}

AccessLog::AccessLog(std::unique_ptr<usage::Sink> sink) : sink_(std::move(sink)) {}

AccessLog::~AccessLog() { close(); }

void AccessLog::write(std::size_t worker, const AccessRecord& record) {
  if (!sink_) return;
  usage::Record r;
  r.event_id = std::string(record.request_id);
  r.payload = access_line(record, std::chrono::system_clock::now());
  sink_->emit(worker, std::move(r));
}

void AccessLog::close() {
  if (sink_) sink_->close();
}

usage::SinkStats AccessLog::stats() const { return sink_ ? sink_->stats() : usage::SinkStats{}; }

}  // namespace tollgate::gateway
