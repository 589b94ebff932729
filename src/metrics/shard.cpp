#include "tollgate/metrics/shard.hpp"

#include <algorithm>
#include <array>
#include <map>

namespace tollgate::metrics {

namespace {

template <class Entry>
std::vector<const Entry*> sorted_by_key(const auto& map) {
  std::vector<const Entry*> entries;
  entries.reserve(map.size());
  for (const auto& entry : map) entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) { return a->first < b->first; });
  return entries;
}

// Exact USD from integer nano-USD: 261600 -> "0.0002616". Never through a double.
std::string usd_text(std::int64_t nano_usd) {
  std::string out;
  std::uint64_t magnitude = static_cast<std::uint64_t>(nano_usd);
  if (nano_usd < 0) {
    out += '-';
    magnitude = ~magnitude + 1;  // well-defined for INT64_MIN too
  }
  append_nano_decimal(out, magnitude / kNanosPerSecond, static_cast<std::uint32_t>(magnitude % kNanosPerSecond));
  return out;
}

}  // namespace

void Shard::record(const RequestSample& sample) {
  Series& series = series_for(sample.tenant, sample.model);
  add_status(series, sample.status, 1);
  if (!sample.rejected.empty()) add_rejection(series, sample.rejected, 1);
  series.input_tokens += sample.input_tokens;
  series.output_tokens += sample.output_tokens;
  series.cost_nano_usd += sample.cost_nano_usd;
  duration_.observe(sample.duration_s);
  if (sample.overhead_s >= 0) overhead_.observe(sample.overhead_s);
  if (sample.ttft_s >= 0) ttft_for(sample.provider).observe(sample.ttft_s);
}

void Shard::merge(const Shard& other) {
  for (const auto& [key, theirs] : other.series_) {
    Series& ours = series_for(key.first, key.second);
    for (const StatusCount& s : theirs.statuses) add_status(ours, s.status, s.count);
    for (const ReasonCount& r : theirs.rejections) add_rejection(ours, r.reason, r.count);
    ours.input_tokens += theirs.input_tokens;
    ours.output_tokens += theirs.output_tokens;
    ours.cost_nano_usd += theirs.cost_nano_usd;
  }
  for (const ProviderTtft& p : other.ttft_) ttft_for(p.provider).merge(p.ttft);
  duration_.merge(other.duration_);
  overhead_.merge(other.overhead_);
  active_streams_ += other.active_streams_;
}

void Shard::render(std::string& out) const {
  render_requests(out);
  render_histograms(out);
  render_tokens_and_cost(out);
  render_rejections(out);
  write_header(out, "tollgate_active_streams", "Streaming responses being relayed now.", Type::gauge);
  write_sample(out, "tollgate_active_streams", {}, std::to_string(active_streams_));
}

Shard::Series& Shard::series_for(std::string_view tenant, std::string_view model) {
  const KeyView key{tenant, model};
  if (const auto it = series_.find(key); it != series_.end()) return it->second;
  Series& series = series_.emplace(Key{tenant, model}, Series{}).first->second;
  series.statuses.reserve(4);
  return series;
}

LatencyHistogram& Shard::ttft_for(std::string_view provider) {
  for (ProviderTtft& p : ttft_) {
    if (p.provider == provider) return p.ttft;
  }
  return ttft_.emplace_back(ProviderTtft{std::string(provider), LatencyHistogram{}}).ttft;
}

void Shard::add_status(Series& series, unsigned status, std::uint64_t count) {
  for (StatusCount& s : series.statuses) {
    if (s.status == status) {
      s.count += count;
      return;
    }
  }
  series.statuses.push_back(StatusCount{status, count});
}

void Shard::add_rejection(Series& series, std::string_view reason, std::uint64_t count) {
  for (ReasonCount& r : series.rejections) {
    if (r.reason == reason) {
      r.count += count;
      return;
    }
  }
  series.rejections.push_back(ReasonCount{std::string(reason), count});
}

void Shard::render_requests(std::string& out) const {
  constexpr std::string_view kName = "tollgate_requests_total";
  write_header(out, kName, "Requests by tenant, public model and HTTP status sent.", Type::counter);
  std::vector<StatusCount> statuses;
  for (const auto* entry : sorted_by_key<std::pair<const Key, Series>>(series_)) {
    const auto& [tenant, model] = entry->first;
    statuses = entry->second.statuses;
    std::sort(statuses.begin(), statuses.end(),
              [](const StatusCount& a, const StatusCount& b) { return a.status < b.status; });
    for (const StatusCount& s : statuses) {
      const std::string status = std::to_string(s.status);
      const std::array<Label, 3> labels{Label{"tenant", tenant}, Label{"model", model}, Label{"status", status}};
      write_sample(out, kName, labels, std::to_string(s.count));
    }
  }
}

void Shard::render_histograms(std::string& out) const {
  constexpr std::string_view kDuration = "tollgate_request_duration_seconds";
  write_header(out, kDuration, "Whole-request time, from the request head to the last byte sent.",
               Type::histogram);
  duration_.render(out, kDuration, {});

  constexpr std::string_view kTtft = "tollgate_upstream_ttft_seconds";
  write_header(out, kTtft, "Time from forwarding a request to its first token, by provider.", Type::histogram);
  std::vector<const ProviderTtft*> providers;
  for (const ProviderTtft& p : ttft_) providers.push_back(&p);
  std::sort(providers.begin(), providers.end(),
            [](const ProviderTtft* a, const ProviderTtft* b) { return a->provider < b->provider; });
  for (const ProviderTtft* p : providers) {
    const std::array<Label, 1> labels{Label{"provider", p->provider}};
    p->ttft.render(out, kTtft, labels);
  }

  constexpr std::string_view kOverhead = "tollgate_overhead_seconds";
  write_header(out, kOverhead, "Time spent in the gateway itself, upstream time excluded.", Type::histogram);
  overhead_.render(out, kOverhead, {});
}

// Token and cost series exist for every routed (tenant, model), zero until something is
// forwarded, so a dashboard sees a tenant's models as soon as they are used.
void Shard::render_tokens_and_cost(std::string& out) const {
  const auto entries = sorted_by_key<std::pair<const Key, Series>>(series_);
  const auto shown = [](const Series& s) {
    return s.input_tokens != 0 || s.output_tokens != 0 || s.cost_nano_usd != 0;
  };

  constexpr std::string_view kTokens = "tollgate_tokens_total";
  write_header(out, kTokens, "Tokens by tenant, public model and direction (input or output).", Type::counter);
  for (const auto* entry : entries) {
    const auto& [tenant, model] = entry->first;
    if (model.empty() && !shown(entry->second)) continue;
    const std::array<Label, 3> input{Label{"tenant", tenant}, Label{"model", model}, Label{"direction", "input"}};
    write_sample(out, kTokens, input, std::to_string(entry->second.input_tokens));
    const std::array<Label, 3> output{Label{"tenant", tenant}, Label{"model", model}, Label{"direction", "output"}};
    write_sample(out, kTokens, output, std::to_string(entry->second.output_tokens));
  }

  constexpr std::string_view kCost = "tollgate_cost_usd_total";
  write_header(out, kCost, "Cost charged, in USD, by tenant and public model.", Type::counter);
  for (const auto* entry : entries) {
    const auto& [tenant, model] = entry->first;
    if (model.empty() && !shown(entry->second)) continue;
    const std::array<Label, 2> labels{Label{"tenant", tenant}, Label{"model", model}};
    write_sample(out, kCost, labels, usd_text(entry->second.cost_nano_usd));
  }
}

void Shard::render_rejections(std::string& out) const {
  constexpr std::string_view kName = "tollgate_rejected_total";
  write_header(out, kName, "Requests the gateway refused, by tenant and reason.", Type::counter);
  std::map<std::pair<std::string_view, std::string_view>, std::uint64_t> by_tenant_reason;
  for (const auto& [key, series] : series_) {
    for (const ReasonCount& r : series.rejections) by_tenant_reason[{key.first, r.reason}] += r.count;
  }
  for (const auto& [key, count] : by_tenant_reason) {
    const std::array<Label, 2> labels{Label{"tenant", key.first}, Label{"reason", key.second}};
    write_sample(out, kName, labels, std::to_string(count));
  }
}

}  // namespace tollgate::metrics
