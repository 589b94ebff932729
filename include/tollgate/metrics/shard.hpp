#pragma once
// Metrics stage: one worker's request metrics (SPEC section 7), recorded once per finished
// request and merged over the workers at scrape time.
//
// Threading: a Shard belongs to one worker thread and is only touched there (plain fields, no
// locks, no atomics). To scrape, the server copies each worker's shard on that worker's own
// thread (posting to its event loop), then merges the copies and renders them anywhere.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tollgate/metrics/histogram.hpp"

namespace tollgate::metrics {

// What one finished request contributes. The views need only live for the record() call:
// label values are copied when a series is first seen (they point into a config snapshot that
// a reload may replace).
struct RequestSample {
  std::string_view tenant;    // "" when the request never authenticated
  std::string_view model;     // public model name; "" when not routed
  std::string_view provider;  // "" when not forwarded
  unsigned status = 0;        // HTTP status sent
  // "" or a SPEC rejection reason: invalid body auth suspended model rpm rpd tpm concurrency
  // budget max_tokens store.
  std::string_view rejected;
  double duration_s = 0;   // whole request
  double overhead_s = -1;  // time in the gateway itself; <0 = not measured
  double ttft_s = -1;      // <0 = no token delivered
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
  std::int64_t cost_nano_usd = 0;
};

class Shard {
 public:
  // One hash lookup for the (tenant, model) series, then increments. Allocates only the first
  // time a series, a status or rejection reason within it, or a provider is seen.
  void record(const RequestSample& sample);

  // tollgate_active_streams is the sum over the shards of opened - closed.
  void stream_opened() { ++active_streams_; }
  void stream_closed() { --active_streams_; }

  // Adds `other`'s counts to this one's (copying any series this one lacks).
  void merge(const Shard& other);

  // Appends every family of SPEC section 7 that the shard keeps, each with HELP and TYPE even
  // when it has no samples, series sorted by label values: tollgate_requests_total,
  // tollgate_request_duration_seconds, tollgate_upstream_ttft_seconds, tollgate_overhead_seconds,
  // tollgate_tokens_total, tollgate_cost_usd_total, tollgate_rejected_total,
  // tollgate_active_streams.
  void render(std::string& out) const;

 private:
  // (tenant, model) owned by the map; looked up by a pair of views without allocating.
  using Key = std::pair<std::string, std::string>;
  using KeyView = std::pair<std::string_view, std::string_view>;
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(KeyView key) const {
      const std::size_t h = std::hash<std::string_view>{}(key.first);
      return h ^ (std::hash<std::string_view>{}(key.second) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
    }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(KeyView a, KeyView b) const { return a == b; }
  };

  struct StatusCount {
    unsigned status = 0;
    std::uint64_t count = 0;
  };
  struct ReasonCount {
    std::string reason;
    std::uint64_t count = 0;
  };
  // Everything labelled by (tenant, model). Rejections are kept here too, so record() needs one
  // lookup, and summed over the models at render for tollgate_rejected_total{tenant,reason}.
  struct Series {
    std::vector<StatusCount> statuses;  // a handful per series: a linear scan beats a map
    std::vector<ReasonCount> rejections;
    std::uint64_t input_tokens = 0;
    std::uint64_t output_tokens = 0;
    std::int64_t cost_nano_usd = 0;
  };
  // TTFT per provider; providers are few (configured), so a linear scan on the name.
  struct ProviderTtft {
    std::string provider;
    LatencyHistogram ttft;
  };

  Series& series_for(std::string_view tenant, std::string_view model);
  LatencyHistogram& ttft_for(std::string_view provider);
  static void add_status(Series& series, unsigned status, std::uint64_t count);
  static void add_rejection(Series& series, std::string_view reason, std::uint64_t count);

  void render_requests(std::string& out) const;
  void render_tokens_and_cost(std::string& out) const;
  void render_rejections(std::string& out) const;
  void render_histograms(std::string& out) const;

  std::unordered_map<Key, Series, KeyHash, KeyEqual> series_;
  std::vector<ProviderTtft> ttft_;
  LatencyHistogram duration_;
  OverheadHistogram overhead_;
  std::int64_t active_streams_ = 0;
};

}  // namespace tollgate::metrics
