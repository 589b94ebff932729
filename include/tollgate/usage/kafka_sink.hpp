#pragma once
// Emit stage: the `kafka` usage sink (SPEC section 6). Produces each event to the usage topic
// keyed by tenant, with an idempotent librdkafka producer (acks=all); what the broker does not
// acknowledge within usage.kafka_delivery_timeout goes to a disk spool under
// usage.kafka_spool_dir and is replayed once the broker answers again, including a spool left
// by an earlier process. Delivery is at-least-once: a replayed event may arrive twice, always
// with the same event_id.
//
// Threading: emit() only appends to the calling worker's hand-off lane (a mutex shared with the
// sink thread alone, never with another worker). One background thread owned by the sink does
// everything else: produce, poll delivery reports, spool writes and fsyncs, replay.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "tollgate/config/config.hpp"
#include "tollgate/usage/sink.hpp"

namespace tollgate::usage {

// Damage found in the spool while replaying (records lost to a crash mid-write or to bad
// bytes); each is also logged. Not part of SinkStats: specific to this sink.
struct KafkaSpoolDamage {
  std::uint64_t torn = 0;
  std::uint64_t corrupt = 0;
};

class KafkaSink final : public Sink {
 public:
  // Validates the configuration, opens (and locks) the spool directory, creates the producer
  // and starts the sink thread. `workers`: how many distinct `worker` indexes emit() will see.
  // Throws std::runtime_error with a message fit for a start-up error: a bad or refused
  // kafka_properties entry (named; values of secret-looking properties never shown), an
  // unusable or already locked spool directory. Does not wait for the broker: an unreachable
  // broker is not a start-up error (events spool).
  static std::unique_ptr<KafkaSink> open(const config::UsageConfig& config, std::size_t workers);

  ~KafkaSink() override;  // close() if not done yet
  KafkaSink(const KafkaSink&) = delete;
  KafkaSink& operator=(const KafkaSink&) = delete;

  void emit(std::size_t worker, Record record) override;
  // Stops taking records from the lanes, waits up to the delivery timeout for the broker to
  // acknowledge what is in flight, spools the rest, fsyncs and stops the thread. Idempotent.
  void close() override;
  bool ready() const override;
  SinkStats stats() const override;
  std::string_view name() const override { return "kafka"; }

  KafkaSpoolDamage spool_damage() const;

  struct Impl;

 private:
  explicit KafkaSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tollgate::usage
