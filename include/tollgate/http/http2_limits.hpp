#pragma once
// HTTP stage: the HTTP/2 protection bounds, and why a connection was closed by one. Free of
// Asio, so the frame guard also builds alone for its libFuzzer target.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace tollgate::http {

// HTTP/2 connection protections (defaults after Envoy's and nginx's; `server.http2` in the
// gateway file sets them). Each violation ends the connection with GOAWAY(ENHANCE_YOUR_CALM) and
// is counted in SessionTracker::h2_closes.
struct Http2Limits {
  // SETTINGS_MAX_CONCURRENT_STREAMS; extra streams are refused (RST_STREAM REFUSED_STREAM).
  std::uint32_t max_concurrent_streams = 100;
  // The window the flood counters below are measured over (fixed windows).
  std::chrono::milliseconds interval{10'000};
  // Rapid Reset (CVE-2023-44487): client RST_STREAM frames per interval.
  std::size_t max_resets_per_interval = 200;
  // SETTINGS (non-ACK) and PING (non-ACK) frames per interval.
  std::size_t max_settings_per_interval = 100;
  std::size_t max_pings_per_interval = 100;
  // CONTINUATION flood (CVE-2024-27919): frames after one HEADERS before END_HEADERS.
  std::size_t max_continuations = 8;

  friend bool operator==(const Http2Limits&, const Http2Limits&) = default;
};

// Why an HTTP/2 connection was closed by a protection (tollgate_http2_protection_closes_total).
enum class Http2Protection : std::uint8_t {
  rapid_reset,
  continuation_flood,
  settings_flood,
  ping_flood,
  header_list_too_large,
  flood,  // nghttp2's own bound on queued control-frame answers (NGHTTP2_ERR_FLOODED)
};
inline constexpr std::size_t kHttp2ProtectionCount = 6;
// The metric label of `reason`.
const char* protection_name(Http2Protection reason);

}  // namespace tollgate::http
