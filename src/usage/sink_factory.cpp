#include "tollgate/usage/open_sink.hpp"

#include "tollgate/usage/file_sink.hpp"
#include "tollgate/usage/kafka_sink.hpp"
#include "tollgate/usage/stdout_sink.hpp"

namespace tollgate::usage {

std::unique_ptr<Sink> open_sink(const config::UsageConfig& config, std::size_t workers) {
  switch (config.sink) {
    case config::SinkKind::file:
      return FileSink::open(config, workers);
    case config::SinkKind::stdout_sink:
      return std::make_unique<StdoutSink>(workers);
    case config::SinkKind::kafka:
      return KafkaSink::open(config, workers);
  }
  return FileSink::open(config, workers);  // unreachable: every SinkKind is handled above
}

}  // namespace tollgate::usage
