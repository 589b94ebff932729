#pragma once
// Renders the mock's response bodies and SSE events from a Plan. Pure: no I/O, no clock
// (callers pass `created` and the id counter in).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mock_request.hpp"

namespace mock_upstream {

// Appends `text` as a quoted JSON string. Bytes >= 0x80 pass through unchanged.
void append_json_string(std::string& out, std::string_view text);

// "chatcmpl-mock-<n>" for chat, "cmpl-mock-<n>" for completions.
std::string response_id(Endpoint endpoint, std::uint64_t counter);

// Completion token i is "tok<i> "; the full text is their concatenation.
std::string completion_text(std::uint32_t tokens);

// Non-streaming chat.completion / text_completion body.
std::string render_completion(const Plan& plan, std::string_view id, std::int64_t created);

// The embeddings list: 8 deterministic floats per input.
std::string render_embeddings(const Plan& plan);

// The 8 values of one embedding, in thousandths (rendered as -0.999 .. 0.999).
std::vector<int> embedding_values(std::uint64_t seed);

// OpenAI error type for an HTTP status: server_error for 5xx, rate_limit_error for 429,
// authentication_error for 401, invalid_request_error otherwise.
std::string_view error_type_for(unsigned status);

// {"error":{"message":..,"type":..,"param":..|null,"code":..}}; an empty param renders as null.
std::string render_error(std::string_view message, std::string_view type, std::string_view param,
                         std::string_view code);

std::string render_models();

// The counters /mock/stats reports, read from the server's atomics.
struct Stats {
  std::uint64_t requests = 0;                // /v1/* requests
  std::uint64_t connections = 0;             // accepted TCP connections
  std::uint64_t tls_handshake_failures = 0;  // TLS connections closed before their handshake ended
  std::uint64_t streams_started = 0;         // SSE responses whose head we began to write
  std::uint64_t streams_completed = 0;       // [DONE] and the terminating chunk were written
  std::uint64_t streams_aborted = 0;         // a write failed or the peer left before completion
  std::uint64_t streams_reset = 0;           // ended by the mock itself (mock.reset_after)
  std::uint64_t h2_connections = 0;          // connections that spoke HTTP/2 (--h2)
  std::uint64_t h2_streams = 0;              // HTTP/2 request streams received
  std::uint64_t h2_resets_received = 0;      // RST_STREAM frames received from clients
  std::uint64_t h2_goaways_sent = 0;         // GOAWAYs sent by --goaway-after
  std::uint64_t h2_streams_refused = 0;      // streams refused (REFUSED_STREAM) after such a GOAWAY
};

// The Stats as JSON plus "active_streams" = started - completed - aborted - reset.
std::string render_stats(const Stats& stats);

// What /mock/last reports about one request.
struct RecordedRequest {
  std::uint64_t sequence = 0;  // 0 = nothing recorded yet
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  std::string body;
};

// Header names are lowercased; repeated headers are joined with ", ".
std::string render_recorded(const RecordedRequest& request);

// One piece of a streamed response, written as its own HTTP chunk.
struct SseStep {
  enum class Kind { comment, role, token, finish, usage, done };
  Kind kind;
  std::string_view text;  // complete SSE text, valid until the next call to next()
};

// Produces the SSE events of a streamed response in order: role (chat only), one event per
// completion token, the finish event, the usage event (include_usage and not no_usage) and
// [DONE]. With sse_comments, a ": keep-alive" comment precedes every event but the first and
// lines end in CRLF. Pacing and resets are the caller's business.
class SseScript {
 public:
  SseScript(const Plan& plan, std::string_view id, std::int64_t created);

  // The next piece, or nullopt once [DONE] has been returned.
  std::optional<SseStep> next();

  // Adds "mock_sent_us":sent_us as the last top-level field of the JSON of the piece next()
  // returned last, and returns its new text (valid until the next call to next()). Comments and
  // [DONE] carry no JSON and come back unchanged. The caller reads the clock (--timestamps).
  std::string_view stamp(std::uint64_t sent_us);

 private:
  enum class State { role, tokens, finish, usage, done, end };

  Endpoint endpoint_;
  std::uint32_t completion_tokens_;
  std::uint64_t prompt_tokens_;
  bool finish_length_;
  bool send_usage_;
  bool comments_;
  std::string_view line_end_;
  std::string head_;   // {"id":..,"object":..,"created":..,"model":..,"choices":
  std::string event_;  // reused for every event
  State state_;
  std::uint32_t tokens_emitted_ = 0;
  bool comment_due_ = false;
  bool event_is_json_ = false;  // the last piece is a "data: {...}" event
};

}  // namespace mock_upstream
