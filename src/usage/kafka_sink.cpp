#include "tollgate/usage/kafka_sink.hpp"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "spool.hpp"
#include "tollgate/core/log.hpp"

namespace tollgate::usage {
namespace {

using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Records one worker may have handed over that the sink thread has not picked up yet. Only
// reached when the sink thread stalls (e.g. a disk that takes seconds to fsync); beyond it
// records are dropped rather than letting memory grow without bound.
constexpr std::size_t kLaneMax = 65'536;
// Spooled records produced again at once while the broker answers.
constexpr std::size_t kReplayWindow = 1'000;
// While the broker does not answer, one spooled record at a time probes it, at most this often.
constexpr auto kProbeInterval = 500ms;
// How long the sink thread sleeps in rd_kafka_poll when idle: bounds the latency of emit().
constexpr int kPollMs = 5;
constexpr auto kLogWindow = 10s;

// Defaults the user may override through usage.kafka.properties.
const std::vector<std::pair<std::string, std::string>> kDefaults = {
    {"compression.codec", "lz4"},          // built into Debian's librdkafka; cheap on CPU
    {"linger.ms", "5"},                    // small batches without visible latency
    {"reconnect.backoff.max.ms", "1000"},  // notice a broker that is back within a second
    {"log.connection.close", "false"},     // idle connection closes are not news
};

// Properties Tollgate sets itself: delivery semantics, or fields of UsageConfig. Setting one in
// kafka_properties to another value is a start-up error.
struct Forced {
  std::string_view name;
  std::string_view why;
};
constexpr Forced kForced[] = {
    {"enable.idempotence", "needed for at-least-once delivery without reordering duplicates"},
    {"acks", "every event is acknowledged by all in-sync replicas (acks=all)"},
    {"request.required.acks", "every event is acknowledged by all in-sync replicas (acks=all)"},
    {"message.timeout.ms", "set usage.kafka.delivery_timeout_ms instead"},
    {"delivery.timeout.ms", "set usage.kafka.delivery_timeout_ms instead"},
    {"bootstrap.servers", "set usage.kafka.brokers instead"},
    {"metadata.broker.list", "set usage.kafka.brokers instead"},
    {"client.id", "set usage.kafka.client_id instead"},
    {"transactional.id", "the sink does not use transactions"},
    {"enable.gapless.guarantee", "a timed-out event is spooled, so gaps are repaired by replay"},
};

// Concatenates without `"literal" + std::string` (GCC 12 -Wrestrict false positive at -O3).
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  ((out += std::string_view(parts)), ...);
  return out;
}

bool is_sensitive(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (std::string_view word : {"password", "secret", "sasl", "key"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

// Thread-safe limiter for log lines that can come in storms (librdkafka's own logs, delivery
// failures): at most kLimit lines per window, then one line saying how many were suppressed.
class LogLimiter {
 public:
  explicit LogLimiter(std::string_view what) : what_(what) {}
  bool allow() {
    std::uint64_t suppressed = 0;
    bool ok = false;
    {
      std::lock_guard lock(mu_);
      const auto now = SteadyClock::now();
      if (now - window_start_ >= kLogWindow) {
        suppressed = suppressed_;
        suppressed_ = 0;
        count_ = 0;
        window_start_ = now;
      }
      if (count_ < kLimit) {
        ++count_;
        ok = true;
      } else {
        ++suppressed_;
      }
    }
    if (suppressed > 0) {
      log::warn("usage kafka: log lines suppressed", {{"kind", what_}, {"count", std::to_string(suppressed)}});
    }
    return ok;
  }

 private:
  static constexpr int kLimit = 20;
  std::string what_;
  std::mutex mu_;
  SteadyClock::time_point window_start_{};
  int count_ = 0;
  std::uint64_t suppressed_ = 0;
};

// One record handed to librdkafka: its storage backs the message value until the delivery
// report (no copy). `from_spool` records settle their spool segment once acknowledged.
struct Pending {
  Record record;
  bool from_spool = false;
  std::uint64_t segment = 0;
};

// Errors that will not go away by retrying the same record: it is dropped, never spooled.
bool permanent(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return true;
    default:
      return false;
  }
}

struct alignas(64) Lane {
  std::mutex mu;
  std::vector<Record> records;
  std::uint64_t overflow = 0;  // records refused since the sink thread last looked
};

}  // namespace

struct KafkaSink::Impl {
  config::UsageConfig config;
  std::size_t lane_count = 1;
  std::unique_ptr<Lane[]> lanes;
  std::unique_ptr<Spool> spool;
  std::vector<std::string> secrets;  // values of sensitive user properties, scrubbed from messages
  rd_kafka_t* rk = nullptr;
  rd_kafka_topic_t* rkt = nullptr;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<bool> closed{false};
  std::mutex close_mu;

  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> spooled{0};
  std::atomic<std::uint64_t> replayed{0};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<std::uint64_t> spool_bytes{0};
  std::atomic<std::uint64_t> torn{0};
  std::atomic<std::uint64_t> corrupt{0};
  std::atomic<bool> ready_flag{true};

  LogLimiter kafka_log_limiter{"librdkafka"};
  LogLimiter failure_log_limiter{"delivery_failure"};

  // Sink thread only.
  bool healthy = true;  // the last delivery succeeded (or nothing failed yet)
  bool fatal = false;   // the producer hit a fatal error: recreate it
  std::deque<std::unique_ptr<Pending>> retry;  // spooled records whose replay failed
  std::size_t live_inflight = 0;
  std::size_t replay_inflight = 0;
  SteadyClock::time_point next_probe{};
  SteadyClock::time_point next_recreate{};
  std::uint64_t drops_unlogged = 0;
  SteadyClock::time_point last_drop_log{};

  std::string scrub(std::string text) const {
    for (const auto& secret : secrets) {
      if (secret.empty()) continue;
      for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 3)) {
        text.replace(at, secret.size(), "***");
      }
    }
    return text;
  }

  // Builds a producer. Returns nullptr with `error` set (safe to show: values of sensitive
  // properties never appear) on failure.
  rd_kafka_t* make_producer(std::string& error);
  void run();
  void pump();
  void replay_step();
  void produce(std::unique_ptr<Pending> p);
  void settle(std::unique_ptr<Pending> p, rd_kafka_resp_err_t err);
  void to_spool(const Record& record);
  void drop(const Record& record, std::string_view why);
  // Copies the spool's size and readiness to the atomics stats() and ready() read.
  void publish_spool_state();
  void finish_iteration();
  void drain_inflight(SteadyClock::time_point deadline);
  void purge_and_drain();
  void destroy_producer();
  void recreate_producer();
  void shutdown();
};

namespace {

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* impl = static_cast<KafkaSink::Impl*>(opaque);
  std::unique_ptr<Pending> p(static_cast<Pending*>(msg->_private));
  impl->settle(std::move(p), msg->err);
}

void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* impl = static_cast<KafkaSink::Impl*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    log::error("usage kafka: fatal producer error; recreating the producer",
               {{"error", rd_kafka_err2name(orig)}, {"reason", impl->scrub(buf)}});
    impl->fatal = true;
    return;
  }
  if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) impl->healthy = false;
  // Connection failures are already in librdkafka's own log line (on_log).
  if (code != RD_KAFKA_RESP_ERR__TRANSPORT && impl->kafka_log_limiter.allow()) {
    log::warn("usage kafka: producer error", {{"error", rd_kafka_err2name(code)}, {"reason", impl->scrub(reason)}});
  }
}

void on_log(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  auto* impl = static_cast<KafkaSink::Impl*>(rd_kafka_opaque(rk));
  if (impl == nullptr || !impl->kafka_log_limiter.allow()) return;
  const log::Level lvl = level <= 4 ? log::Level::warn : level <= 6 ? log::Level::info : log::Level::debug;
  log::write(lvl, "librdkafka", {{"facility", fac}, {"message", impl->scrub(buf)}});
}

}  // namespace

rd_kafka_t* KafkaSink::Impl::make_producer(std::string& error) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  auto set = [&](const std::string& name, const std::string& value, bool user) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK) {
      return true;
    }
    error = user ? "usage.kafka.properties: " : "usage kafka: ";
    if (is_sensitive(name)) {
      error += cat("invalid or unknown librdkafka property '", name, "' (value not shown)");
    } else {
      error += cat("property '", name, "': ", scrub(errstr));
    }
    return false;
  };
  bool ok = true;
  for (const auto& [name, value] : kDefaults) ok = ok && set(name, value, false);
  for (const auto& [name, value] : config.kafka_properties) ok = ok && set(name, value, true);
  const std::pair<std::string, std::string> forced[] = {
      {"bootstrap.servers", config.kafka_brokers},
      {"client.id", config.kafka_client_id},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"message.timeout.ms", std::to_string(config.kafka_delivery_timeout.count())},
  };
  for (const auto& [name, value] : forced) ok = ok && set(name, value, false);
  if (!ok) {
    rd_kafka_conf_destroy(conf);
    return nullptr;
  }
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_log_cb(conf, on_log);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (producer == nullptr) {
    rd_kafka_conf_destroy(conf);
    error = cat("usage kafka: cannot create the producer: ", scrub(errstr));
    return nullptr;
  }
  rkt = rd_kafka_topic_new(producer, config.kafka_topic.c_str(), nullptr);
  if (rkt == nullptr) {
    error = cat("usage kafka: cannot create topic handle '", config.kafka_topic,
                "': ", rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_destroy(producer);
    return nullptr;
  }
  return producer;
}

void KafkaSink::Impl::produce(std::unique_ptr<Pending> p) {
  (p->from_spool ? replay_inflight : live_inflight) += 1;
  if (rk == nullptr) {
    settle(std::move(p), RD_KAFKA_RESP_ERR__STATE);
    return;
  }
  Record& r = p->record;
  const rd_kafka_resp_err_t err = rd_kafka_producev(
      rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(r.key.data(), r.key.size()),
      RD_KAFKA_V_VALUE(r.payload.data(), r.payload.size()), RD_KAFKA_V_OPAQUE(p.get()), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    settle(std::move(p), err);  // e.g. __QUEUE_FULL: spooled instead of blocking
    return;
  }
  p.release();  // owned by librdkafka until on_delivery
}

void KafkaSink::Impl::settle(std::unique_ptr<Pending> p, rd_kafka_resp_err_t err) {
  (p->from_spool ? replay_inflight : live_inflight) -= 1;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    healthy = true;
    if (p->from_spool) {
      spool->done(p->segment);
      publish_spool_state();
      replayed.fetch_add(1, std::memory_order_relaxed);
    } else {
      delivered.fetch_add(1, std::memory_order_relaxed);
    }
    return;
  }
  if (permanent(err)) {
    if (p->from_spool) spool->done(p->segment);
    drop(p->record, rd_kafka_err2name(err));
    return;
  }
  const bool purged = err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT;
  if (!purged) {
    healthy = false;
    next_probe = std::max(next_probe, SteadyClock::now() + kProbeInterval);
    if (failure_log_limiter.allow()) {
      log::warn("usage kafka: event not acknowledged, spooled",
                {{"event_id", p->record.event_id}, {"error", rd_kafka_err2name(err)},
                 {"replay", p->from_spool ? "true" : "false"}});
    }
  }
  if (p->from_spool) {
    retry.push_back(std::move(p));  // still in its segment on disk: produced again later
  } else {
    to_spool(p->record);
  }
}

void KafkaSink::Impl::to_spool(const Record& record) {
  const Spool::Append result = spool->append(record);
  publish_spool_state();  // before `spooled` moves, so stats() never shows a record missing
  switch (result) {
    case Spool::Append::ok:
      spooled.fetch_add(1, std::memory_order_relaxed);
      return;
    case Spool::Append::full:
      drop(record, "spool full");
      return;
    case Spool::Append::failed:
      drop(record, "spool write failed");
      return;
  }
}

void KafkaSink::Impl::drop(const Record& record, std::string_view why) {
  dropped.fetch_add(1, std::memory_order_relaxed);
  const auto now = SteadyClock::now();
  if (drops_unlogged == 0 && now - last_drop_log >= kLogWindow) {
    last_drop_log = now;
    log::error("usage kafka: event dropped, it will never reach the broker",
               {{"event_id", record.event_id}, {"reason", why}, {"spool_dir", config.kafka_spool_dir}});
    return;
  }
  ++drops_unlogged;
}

void KafkaSink::Impl::pump() {
  std::vector<Record> batch;
  for (std::size_t i = 0; i < lane_count; ++i) {
    std::uint64_t overflow = 0;
    {
      std::lock_guard lock(lanes[i].mu);
      batch.swap(lanes[i].records);
      overflow = std::exchange(lanes[i].overflow, 0);
    }
    if (overflow > 0) {
      dropped.fetch_add(overflow, std::memory_order_relaxed);
      drops_unlogged += overflow;
    }
    for (auto& record : batch) {
      if (healthy && rk != nullptr) {
        auto p = std::make_unique<Pending>();
        p->record = std::move(record);
        produce(std::move(p));
      } else {
        to_spool(record);  // the broker is not answering: straight to disk
      }
    }
    batch.clear();
  }
}

void KafkaSink::Impl::replay_step() {
  if (rk == nullptr) return;
  auto take = [this]() -> std::unique_ptr<Pending> {
    if (!retry.empty()) {
      auto p = std::move(retry.front());
      retry.pop_front();
      return p;
    }
    auto rec = spool->next();
    const SpoolDamage damage = spool->damage();
    torn.store(damage.torn, std::memory_order_relaxed);
    corrupt.store(damage.corrupt, std::memory_order_relaxed);
    if (!rec) return nullptr;
    auto p = std::make_unique<Pending>();
    p->record = std::move(rec->record);
    p->from_spool = true;
    p->segment = rec->segment;
    return p;
  };
  if (healthy) {
    while (replay_inflight < kReplayWindow) {
      auto p = take();
      if (!p) break;
      produce(std::move(p));
    }
    return;
  }
  const auto now = SteadyClock::now();
  if (replay_inflight > 0 || now < next_probe) return;
  auto p = take();
  if (!p) {
    healthy = true;  // nothing to probe with: let live records find out
    return;
  }
  next_probe = now + kProbeInterval;
  produce(std::move(p));
}

void KafkaSink::Impl::publish_spool_state() {
  const std::uint64_t bytes = spool->bytes();
  spool_bytes.store(bytes, std::memory_order_relaxed);
  ready_flag.store(spool->writable() && !spool->full() && bytes < spool->max_bytes(),
                   std::memory_order_relaxed);
}

void KafkaSink::Impl::finish_iteration() {
  spool->sync();
  publish_spool_state();
  const std::uint64_t bytes = spool->bytes();
  const auto now = SteadyClock::now();
  if (drops_unlogged > 0 && now - last_drop_log >= kLogWindow) {
    last_drop_log = now;
    log::error("usage kafka: events dropped (spool full or unwritable, or sink overloaded)",
               {{"count", std::to_string(drops_unlogged)}, {"spool_dir", config.kafka_spool_dir},
                {"spool_bytes", std::to_string(bytes)}});
    drops_unlogged = 0;
  }
}

void KafkaSink::Impl::drain_inflight(SteadyClock::time_point deadline) {
  while (live_inflight + replay_inflight > 0 && SteadyClock::now() < deadline) {
    rd_kafka_poll(rk, 10);
    finish_iteration();
  }
}

void KafkaSink::Impl::purge_and_drain() {
  if (rk == nullptr) return;
  rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  drain_inflight(SteadyClock::now() + 5s);
  if (live_inflight + replay_inflight > 0) {
    log::error("usage kafka: records still unreported after purging the producer",
               {{"live", std::to_string(live_inflight)}, {"replay", std::to_string(replay_inflight)}});
  }
}

void KafkaSink::Impl::destroy_producer() {
  if (rkt != nullptr) rd_kafka_topic_destroy(rkt);
  rkt = nullptr;
  if (rk != nullptr) rd_kafka_destroy(rk);
  rk = nullptr;
}

void KafkaSink::Impl::recreate_producer() {
  const auto now = SteadyClock::now();
  if (now < next_recreate) return;
  next_recreate = now + 1s;
  if (rk != nullptr) {
    purge_and_drain();
    destroy_producer();
  }
  fatal = false;
  std::string error;
  rk = make_producer(error);
  if (rk == nullptr) {
    fatal = true;  // try again in a second; meanwhile records spool
    log::error("usage kafka: cannot recreate the producer", {{"error", error}});
  }
}

void KafkaSink::Impl::run() {
  while (!stopping.load(std::memory_order_acquire)) {
    pump();
    replay_step();
    if (rk != nullptr) {
      rd_kafka_poll(rk, kPollMs);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
    }
    if (fatal) recreate_producer();
    finish_iteration();
  }
  shutdown();
}

void KafkaSink::Impl::shutdown() {
  pump();  // what workers handed over before close()
  if (rk != nullptr) {
    drain_inflight(SteadyClock::now() + config.kafka_delivery_timeout);
    purge_and_drain();  // unacknowledged live records go to the spool
  }
  finish_iteration();
  destroy_producer();
  const auto s = spool->bytes();
  log::info("usage kafka: sink closed",
            {{"delivered", std::to_string(delivered.load())}, {"spooled", std::to_string(spooled.load())},
             {"replayed", std::to_string(replayed.load())}, {"dropped", std::to_string(dropped.load())},
             {"spool_bytes", std::to_string(s)}});
}

KafkaSink::KafkaSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

std::unique_ptr<KafkaSink> KafkaSink::open(const config::UsageConfig& config, std::size_t workers) {
  if (config.kafka_brokers.empty()) throw std::runtime_error("usage.kafka.brokers is empty");
  if (config.kafka_topic.empty()) throw std::runtime_error("usage.kafka.topic is empty");
  if (config.kafka_delivery_timeout.count() <= 0) {
    throw std::runtime_error("usage.kafka.delivery_timeout_ms must be positive");
  }
  for (const auto& [name, value] : config.kafka_properties) {
    for (const Forced& f : kForced) {
      if (name != f.name) continue;
      std::string msg = "usage.kafka.properties: '";
      msg += name;
      msg += "' is set by Tollgate and cannot be overridden (";
      msg += f.why;
      msg += ')';
      throw std::runtime_error(msg);
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->lane_count = std::max<std::size_t>(workers, 1);
  impl->lanes = std::make_unique<Lane[]>(impl->lane_count);
  for (const auto& [name, value] : config.kafka_properties) {
    if (is_sensitive(name)) impl->secrets.push_back(value);
  }
  SpoolOptions spool_options;
  spool_options.dir = config.kafka_spool_dir;
  spool_options.max_bytes = config.kafka_spool_max_bytes;
  impl->spool = std::make_unique<Spool>(std::move(spool_options));  // throws when unusable
  std::string error;
  impl->rk = impl->make_producer(error);
  if (impl->rk == nullptr) throw std::runtime_error(error);
  impl->spool_bytes.store(impl->spool->bytes());
  impl->ready_flag.store(impl->spool->bytes() < impl->spool->max_bytes());
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<KafkaSink>(new KafkaSink(std::move(impl)));
}

KafkaSink::~KafkaSink() { close(); }

void KafkaSink::emit(std::size_t worker, Record record) {
  if (impl_->closed.load(std::memory_order_relaxed)) {
    impl_->dropped.fetch_add(1, std::memory_order_relaxed);  // a bug in the caller: counted
    return;
  }
  Lane& lane = impl_->lanes[worker % impl_->lane_count];
  std::lock_guard lock(lane.mu);
  if (lane.records.size() >= kLaneMax) {
    ++lane.overflow;
    return;
  }
  lane.records.push_back(std::move(record));
}

void KafkaSink::close() {
  std::lock_guard lock(impl_->close_mu);
  if (impl_->closed.exchange(true)) return;
  impl_->stopping.store(true, std::memory_order_release);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->spool.reset();  // fsyncs, closes and unlocks the directory: another sink may take it
}

bool KafkaSink::ready() const { return impl_->ready_flag.load(std::memory_order_relaxed); }

SinkStats KafkaSink::stats() const {
  SinkStats s;
  s.delivered = impl_->delivered.load(std::memory_order_relaxed);
  s.spooled = impl_->spooled.load(std::memory_order_relaxed);
  s.replayed = impl_->replayed.load(std::memory_order_relaxed);
  s.dropped = impl_->dropped.load(std::memory_order_relaxed);
  s.spool_bytes = impl_->spool_bytes.load(std::memory_order_relaxed);
  return s;
}

KafkaSpoolDamage KafkaSink::spool_damage() const {
  return {impl_->torn.load(std::memory_order_relaxed), impl_->corrupt.load(std::memory_order_relaxed)};
}

}  // namespace tollgate::usage
