#pragma once
// Relay stage: decides, event by event, what of an upstream SSE stream the client receives and
// what it cost. Pure (no I/O): the gateway's stream loop feeds it upstream bytes and writes
// what it returns, so every ending (normal, provider failure, budget cut-off) is decided here.
#include <optional>
#include <string>
#include <string_view>

#include "tollgate/core/error.hpp"
#include "tollgate/core/money.hpp"
#include "tollgate/stream/sse_parser.hpp"
#include "tollgate/stream/token_counter.hpp"

namespace tollgate::stream {

// Asked after every event that carried completion content: may the stream go on now that the
// client has received `output` completion tokens? The admission layer implements it with
// reservation extensions; returning false ends the stream after that event (budget cut-off).
class StreamBudget {
 public:
  virtual ~StreamBudget() = default;
  virtual bool allow(Tokens output) = 0;
};

struct RelayOptions {
  // The client asked for the usage chunk (stream_options.include_usage). When false the gateway
  // asked the provider for it on its own behalf, and the relay removes it again.
  bool client_wants_usage = false;
  StreamBudget* budget = nullptr;  // not owned; null = no limit
};

// The stream's token counts, as billed.
struct StreamUsage {
  Tokens prompt;
  Tokens completion;
  bool from_provider = false;  // false: `token_source: counted`
};

class Relay {
 public:
  explicit Relay(RelayOptions options);

  // Feeds the next upstream body bytes. Replaces `out` with the bytes the client must receive
  // now: whole events only (a client cannot use half an event), in order. Returns false when
  // the stream must end now; then `out` already holds the final error event and [DONE].
  bool on_upstream(std::string_view bytes, std::string& out);

  // The upstream body ended. `out` receives anything still owed to the client (an event held
  // back by a trailing CR, a final error event if the provider ended without [DONE]).
  void on_upstream_end(std::string& out);

  // The upstream failed mid-stream: `out` receives one in-band error event and [DONE] (nothing
  // if the provider had already sent [DONE]).
  void on_upstream_failure(const Failure& failure, std::string& out);

  // True once an event with completion content was relayed (time to first token).
  bool content_started() const { return content_started_; }
  bool finished() const { return finished_; }
  bool cut_off() const { return cut_off_; }
  bool upstream_reported_error() const { return upstream_error_; }

  // What to bill: the provider's usage when it sent one, else completion tokens counted from the
  // relayed content and the prompt bound from the request (`prompt_bound`, never an undercount).
  StreamUsage usage(Tokens prompt_bound) const;

 private:
  void on_event(const SseEvent& event, std::string& out);
  void end_with(const Failure& failure, std::string& out);

  RelayOptions options_;
  SseParser parser_;
  CompletionCounter counter_;
  std::optional<Tokens> provider_prompt_;
  std::optional<Tokens> provider_completion_;
  bool content_started_ = false;
  bool done_seen_ = false;
  bool finished_ = false;
  bool cut_off_ = false;
  bool upstream_error_ = false;
};

}  // namespace tollgate::stream
