#pragma once
// Turns a /v1/* request body into a Plan for the mock's reply. Pure: no I/O, no clock.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <simdjson.h>

namespace mock_upstream {

enum class Endpoint { chat, completions, embeddings };

// Upper bound for any completion token count, so a typo cannot make a multi-gigabyte body.
inline constexpr std::uint32_t kMaxCompletionTokens = 1'000'000;
// Upper bound for any injected delay (one hour).
inline constexpr std::uint64_t kMaxDelayMs = 3'600'000;

// CLI defaults for the knobs a request's "mock" object may override.
struct Defaults {
  std::uint32_t completion_tokens = 16;  // cap applied to max_tokens
  std::uint32_t chunk_delay_ms = 0;
  std::uint32_t first_byte_delay_ms = 0;
  bool no_usage = false;
  bool sse_comments = false;
  bool timestamps = false;
};

// Failure injection and pacing for one request (defaults merged with the body's "mock").
struct Knobs {
  std::uint32_t chunk_delay_ms = 0;       // before every streamed SSE event
  std::uint32_t first_byte_delay_ms = 0;  // before the response head
  std::optional<unsigned> fail_status;    // reply with this status and an error body
  std::optional<std::uint64_t> reset_after;  // RST after this many token chunks (see README)
  bool no_usage = false;                  // never report usage
  bool sse_comments = false;              // ": keep-alive" comments and CRLF line endings
  bool timestamps = false;                // "mock_sent_us" in every streamed chunk (benchmarks)
  bool one_write = false;                 // HTTP/1.1: the whole chunked stream in one write
};

struct Plan {
  Endpoint endpoint = Endpoint::chat;
  std::string model;
  bool stream = false;
  bool include_usage = false;             // stream_options.include_usage
  std::uint64_t prompt_tokens = 1;
  std::uint32_t completion_tokens = 0;
  bool finish_length = false;             // finish_reason "length" (n came from max_tokens)
  std::vector<std::uint64_t> embedding_seeds;  // one per embeddings input
  Knobs knobs;
};

// A body the mock refuses with 400; rendered as an OpenAI error.
struct BadRequest {
  std::string message;
  std::string param;  // empty renders as null
  std::string code;
};

using ParseResult = std::variant<Plan, BadRequest>;

// `parser` is reused across calls (one per thread); nothing returned points into it.
ParseResult parse_request(simdjson::dom::parser& parser, Endpoint endpoint, std::string_view body,
                          const Defaults& defaults);

// ceil(bytes / 4), the mock's tokenizer for text.
constexpr std::uint64_t text_tokens(std::uint64_t bytes) { return (bytes + 3) / 4; }

}  // namespace mock_upstream
