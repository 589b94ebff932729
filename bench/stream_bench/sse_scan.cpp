// Splits the benchmark's SSE bodies into events and classifies them.
#include "sse_scan.hpp"

#include <charconv>
#include <cstdio>
#include <vector>

namespace stream_bench {

EventInfo classify(std::string_view data) {
  EventInfo info;
  if (data == "[DONE]") {
    info.kind = EventInfo::Kind::done;
    return info;
  }
  if (data.starts_with("{\"error\"")) {
    info.kind = EventInfo::Kind::error;
    return info;
  }
  constexpr std::string_view kContent = "\"content\":\"";
  if (const auto at = data.find(kContent);
      at != std::string_view::npos && at + kContent.size() < data.size() &&
      data[at + kContent.size()] != '"') {
    info.kind = EventInfo::Kind::content;
  }
  constexpr std::string_view kStamp = "\"mock_sent_us\":";
  if (const auto at = data.rfind(kStamp); at != std::string_view::npos) {
    const char* first = data.data() + at + kStamp.size();
    std::uint64_t value = 0;
    if (auto [ptr, ec] = std::from_chars(first, data.data() + data.size(), value); ec == std::errc{}) {
      info.sent_us = value;
    }
  }
  return info;
}

void SseScanner::feed(std::string_view bytes, const std::function<void(std::string_view)>& on_event) {
  while (!bytes.empty()) {
    const auto newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      line_.append(bytes);
      return;
    }
    std::string_view line = bytes.substr(0, newline);
    bytes.remove_prefix(newline + 1);
    if (!line_.empty()) {  // the line began in an earlier piece
      line_.append(line);
      std::string whole = std::move(line_);
      line_.clear();
      on_line(whole, on_event);
    } else {
      on_line(line, on_event);
    }
  }
}

void SseScanner::on_line(std::string_view line, const std::function<void(std::string_view)>& on_event) {
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.empty()) {  // end of event
    if (has_data_) on_event(data_);
    data_.clear();
    has_data_ = false;
    return;
  }
  if (!line.starts_with("data:")) return;  // comments, event:, id:, retry:
  line.remove_prefix(5);
  if (line.starts_with(' ')) line.remove_prefix(1);
  if (has_data_) data_.push_back('\n');
  data_.append(line);
  has_data_ = true;
}

bool self_check() {
  const std::string body =
      ": keep-alive\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"mock_sent_us\":7}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"tok0 \"}}],\"mock_sent_us\":12}\r\n\r\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"tok1 \"}}]}\n\n"
      "data: {\"error\":{\"message\":\"x\"}}\n\n"
      "data: [DONE]\n\n";
  const std::vector<EventInfo::Kind> want_kinds{EventInfo::Kind::other, EventInfo::Kind::content,
                                                EventInfo::Kind::content, EventInfo::Kind::error,
                                                EventInfo::Kind::done};
  const std::vector<std::optional<std::uint64_t>> want_stamps{7, 12, std::nullopt, std::nullopt,
                                                              std::nullopt};
  bool ok = true;
  // Every split into two or three pieces.
  for (std::size_t a = 0; a <= body.size() && ok; ++a) {
    for (std::size_t b = a; b <= body.size() && ok; b += 7) {
      SseScanner scanner;
      std::vector<EventInfo> got;
      auto on_event = [&](std::string_view data) { got.push_back(classify(data)); };
      scanner.feed(std::string_view(body).substr(0, a), on_event);
      scanner.feed(std::string_view(body).substr(a, b - a), on_event);
      scanner.feed(std::string_view(body).substr(b), on_event);
      bool same = got.size() == want_kinds.size();
      for (std::size_t i = 0; same && i < got.size(); ++i) {
        same = got[i].kind == want_kinds[i] && got[i].sent_us == want_stamps[i];
      }
      if (!same) {
        std::fprintf(stderr, "sse_scan: split at %zu,%zu gives %zu events\n", a, b, got.size());
        ok = false;
      }
    }
  }
  std::fputs(ok ? "self-check ok\n" : "self-check failed\n", stderr);
  return ok;
}

}  // namespace stream_bench
