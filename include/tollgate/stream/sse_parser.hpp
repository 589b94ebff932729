#pragma once
// Relay stage: an incremental parser of the upstream's server-sent events (WHATWG rules), so the
// relay can forward, drop or count each event as soon as its last byte arrives.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "tollgate/core/error.hpp"

namespace tollgate::stream {

// One complete event. Every view is valid only during the callback that receives it.
struct SseEvent {
  // Every byte of the event exactly as received, from the first byte after the previous event
  // through its terminating blank line. Concatenating every event's `raw` (plus the parser's
  // unterminated()) gives back the stream byte for byte, so the relay may forward `raw` as is.
  std::string_view raw;
  std::string_view data;   // the `data` lines' values joined with '\n'; empty when none
  std::string_view event;  // the last `event` field's value; empty when absent
  std::string_view id;     // the last `id` field's value in this event; empty when absent
  // At least one `data` line (possibly empty). False for comment-only blocks such as keep-alives
  // and for stray blank lines: WHATWG clients ignore those, the relay may still forward them.
  bool has_data = false;
  bool is_done = false;  // data == "[DONE]", OpenAI's end-of-stream sentinel
};

// Parses one stream. Bytes may be split at any position between feeds: inside a line, between
// the CR and LF of one line ending, inside a UTF-8 sequence; the events are the same however the
// stream is split. Lines end with LF, CRLF or a lone CR; a UTF-8 BOM at the very start of the
// stream is ignored (it stays in the first event's `raw`).
//
// Copies: an event lying entirely inside one feed is reported with views into that feed's bytes
// (zero copy). Only the bytes of an event still incomplete at the end of a feed are copied, into
// a buffer of at most max_event_bytes. Multi-line data is joined in a scratch buffer.
//
// Latency: an event is reported as soon as its blank line is complete. The one exception is a
// blank line ended by a CR that is the last byte of a feed: the parser must see the next byte to
// know whether an LF belongs to it, so that event is reported by the next feed (or by finish()).
// Upstreams ending lines with CRLF or LF are never delayed.
//
// Not thread-safe; one parser per stream. The callback must not call back into the parser.
class SseParser {
 public:
  static constexpr std::size_t kDefaultMaxEventBytes = std::size_t{1} << 20;

  explicit SseParser(std::size_t max_event_bytes = kDefaultMaxEventBytes);

  // Feeds the next bytes of the stream and calls on_event(const SseEvent&) for each event they
  // complete, in stream order, before returning. Fails with Error::upstream_error ("upstream
  // event too large") when one event (complete or not) exceeds max_event_bytes; events completed
  // before that point have been reported. After a failure the parser holds nothing and every
  // later feed fails the same way.
  template <class F>
  Result<void> feed(std::string_view bytes, F&& on_event) {
    return feed_impl(bytes, sink_for(on_event));
  }

  // End of stream: reports the last event if only the LF lookahead of a final CR held it back
  // (see above). What unterminated() returns afterwards was never completed and, per WHATWG, is
  // not an event; the relay may still forward it.
  template <class F>
  void finish(F&& on_event) {
    finish_impl(sink_for(on_event));
  }

  // Bytes held for the incomplete event. A parser's memory is this plus at most
  // 2 * kRetainedBytes of buffer capacity kept between events (pending and joined data).
  std::size_t pending_bytes() const { return pending_.size(); }

  // The bytes received since the last reported event. Valid until the next feed or finish.
  std::string_view unterminated() const { return pending_; }

  // Buffers larger than this are released after the event that grew them, so one large event
  // does not pin its size for the rest of a long stream.
  // 4 KiB holds any ordinary chunk (OpenAI's are a few hundred bytes).
  static constexpr std::size_t kRetainedBytes = std::size_t{4} << 10;

 private:
  struct EventSink {
    void* context;
    void (*call)(void* context, const SseEvent& event);
  };

  template <class F>
  static EventSink sink_for(F& on_event) {
    using Fn = std::remove_reference_t<F>;
    return EventSink{const_cast<void*>(static_cast<const void*>(&on_event)),
                     [](void* context, const SseEvent& event) { (*static_cast<Fn*>(context))(event); }};
  }

  Result<void> feed_impl(std::string_view bytes, EventSink sink);
  void finish_impl(EventSink sink);
  // Reports the event made of pending_ followed by bytes[begin, end); false if it is too large.
  bool complete(std::string_view bytes, std::size_t begin, std::size_t end, EventSink sink);
  SseEvent parse_event(std::string_view raw);
  void start_event();
  Failure too_large();

  std::size_t max_event_bytes_;
  std::string pending_;  // the incomplete event's bytes received by earlier feeds
  std::string data_;     // scratch for data joined from several lines
  // Line scanner state, carried across feeds.
  bool line_start_ = true;  // the next byte starts a line
  bool after_cr_ = false;   // the last byte was a CR ending a non-blank line: an LF now is part of it
  bool blank_cr_ = false;   // the last byte was a CR ending a blank line: the event ends here or after one LF
  std::uint8_t bom_matched_ = 0;  // BOM bytes matched at the start of the stream
  bool bom_checked_ = false;      // past the point where a BOM could be
  bool first_event_ = true;
  bool failed_ = false;
};

}  // namespace tollgate::stream
