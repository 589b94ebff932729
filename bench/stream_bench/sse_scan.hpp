#pragma once
// The client side of the benchmark's SSE: splits a decoded (de-chunked) body into events and
// reads the few fields the benchmark needs from each. Pure: no I/O, no clock.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace stream_bench {

// What the benchmark needs from one `data:` event.
struct EventInfo {
  enum class Kind {
    content,  // a chunk with a non-empty "content" (one token from the mock)
    other,    // role, finish and usage chunks
    error,    // {"error":{...}}: the gateway ended the stream in-band
    done,     // [DONE]
  };
  Kind kind = Kind::other;
  std::optional<std::uint64_t> sent_us;  // "mock_sent_us" when the mock stamped the chunk
};

// Classifies the data of one event (the text after "data: ", multi-line data joined by '\n').
EventInfo classify(std::string_view data);

// Incremental event splitter: bytes may be split anywhere; LF and CRLF line ends; comments
// and fields other than data are skipped. Memory: one partial line plus one event's data.
class SseScanner {
 public:
  // Feeds the next bytes; calls on_event(data) for every event they complete.
  void feed(std::string_view bytes, const std::function<void(std::string_view)>& on_event);

 private:
  void on_line(std::string_view line, const std::function<void(std::string_view)>& on_event);

  std::string line_;
  std::string data_;
  bool has_data_ = false;
};

// Runs the scanner and classify() on fixed inputs split in every way; false on a mismatch
// (message on stderr). For `stream_bench --self-check`.
bool self_check();

}  // namespace stream_bench
