#include "tollgate/stream/sse_parser.hpp"

#include <cstring>

namespace tollgate::stream {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// Where the first CR or LF in `text` is, or npos. Two memchr calls: find_first_of("\r\n") makes
// one call per byte of the line, which showed in the relay's profile.
std::size_t find_eol(std::string_view text) {
  const void* lf = std::memchr(text.data(), '\n', text.size());
  const std::size_t lf_at = lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - text.data()) : text.size();
  const void* cr = std::memchr(text.data(), '\r', lf_at);
  if (cr) return static_cast<std::size_t>(static_cast<const char*>(cr) - text.data());
  return lf ? lf_at : std::string_view::npos;
}

// Splits off the first line of `text` (which ends with a line ending) and its ending.
std::string_view take_line(std::string_view& text) {
  const std::size_t eol = find_eol(text);
  if (eol == std::string_view::npos) {
    const std::string_view line = text;
    text = {};
    return line;
  }
  std::size_t next = eol + 1;
  if (text[eol] == '\r' && next < text.size() && text[next] == '\n') ++next;
  const std::string_view line = text.substr(0, eol);
  text.remove_prefix(next);
  return line;
}

void release_if_large(std::string& buffer) {
  if (buffer.capacity() > SseParser::kRetainedBytes) {
    std::string().swap(buffer);
  } else {
    buffer.clear();
  }
}

}  // namespace

SseParser::SseParser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

Failure SseParser::too_large() {
  return fail(Error::upstream_error, "upstream event too large");
}

// The scanner only finds where events end; each complete event is then parsed in one piece by
// parse_event, from the feed's bytes when it lies inside them, else from pending_.
Result<void> SseParser::feed_impl(std::string_view bytes, EventSink sink) {
  if (failed_) return too_large();
  std::size_t begin = 0;  // where the event in progress starts in `bytes` (earlier bytes: pending_)
  const std::size_t size = bytes.size();
  for (std::size_t i = 0; i < size; ++i) {
    const char c = bytes[i];
    if (blank_cr_) {
      // The previous byte ended the event; an LF right after its CR is part of that line ending.
      const std::size_t end = c == '\n' ? i + 1 : i;
      if (!complete(bytes, begin, end, sink)) return too_large();
      begin = end;
      if (c == '\n') continue;
    }
    if (!bom_checked_) {
      if (static_cast<unsigned char>(c) == static_cast<unsigned char>(kBom[bom_matched_])) {
        if (++bom_matched_ == kBom.size()) bom_checked_ = true;
        continue;
      }
      bom_checked_ = true;
      // A partial BOM was ordinary text on the first line.
      if (bom_matched_ > 0) line_start_ = false;
    }
    if (c == '\n') {
      if (after_cr_) {
        after_cr_ = false;
      } else if (line_start_) {
        if (!complete(bytes, begin, i + 1, sink)) return too_large();
        begin = i + 1;
      } else {
        line_start_ = true;
      }
    } else if (c == '\r') {
      after_cr_ = false;
      if (line_start_) {
        blank_cr_ = true;
      } else {
        line_start_ = true;
        after_cr_ = true;
      }
    } else {
      after_cr_ = false;
      line_start_ = false;
      // Inside a line nothing changes until its end: skip to the next CR or LF.
      const std::size_t eol = find_eol(bytes.substr(i + 1));
      i = eol == std::string_view::npos ? size - 1 : i + eol;
    }
  }
  if (pending_.size() + (size - begin) > max_event_bytes_) {
    failed_ = true;
    release_if_large(pending_);
    release_if_large(data_);
    return too_large();
  }
  pending_.append(bytes.data() + begin, size - begin);
  return {};
}

void SseParser::finish_impl(EventSink sink) {
  if (failed_ || !blank_cr_) return;
  // pending_ is exactly the event: it ended with the last byte fed.
  complete({}, 0, 0, sink);
}

bool SseParser::complete(std::string_view bytes, std::size_t begin, std::size_t end,
                         EventSink sink) {
  if (pending_.size() + (end - begin) > max_event_bytes_) {
    failed_ = true;
    release_if_large(pending_);
    release_if_large(data_);
    return false;
  }
  std::string_view raw;
  if (pending_.empty()) {
    raw = bytes.substr(begin, end - begin);
  } else {
    pending_.append(bytes.data() + begin, end - begin);
    raw = pending_;
  }
  const SseEvent event = parse_event(raw);
  sink.call(sink.context, event);
  release_if_large(pending_);
  release_if_large(data_);
  start_event();
  return true;
}

void SseParser::start_event() {
  line_start_ = true;
  after_cr_ = false;
  blank_cr_ = false;
  first_event_ = false;
}

SseEvent SseParser::parse_event(std::string_view raw) {
  SseEvent event;
  event.raw = raw;
  std::string_view text = raw;
  if (first_event_ && text.starts_with(kBom)) text.remove_prefix(kBom.size());
  std::size_t data_lines = 0;
  while (!text.empty()) {
    const std::string_view line = take_line(text);
    if (line.empty()) break;  // the blank line that ends the event
    if (line.front() == ':') continue;  // comment
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (value.starts_with(' ')) value.remove_prefix(1);
    }
    if (name == "data") {
      // One line (the common case) stays a view into raw; more are joined in data_.
      if (data_lines == 1) data_.assign(event.data);
      if (data_lines >= 1) {
        data_.push_back('\n');
        data_.append(value);
      } else {
        event.data = value;
      }
      ++data_lines;
    } else if (name == "event") {
      event.event = value;
    } else if (name == "id") {
      // WHATWG ignores an id containing NUL.
      if (value.find('\0') == std::string_view::npos) event.id = value;
    }
    // `retry` and unknown fields do not matter to the relay: they stay in raw.
  }
  if (data_lines > 1) event.data = data_;
  event.has_data = data_lines > 0;
  event.is_done = event.has_data && event.data == "[DONE]";
  return event;
}

}  // namespace tollgate::stream
