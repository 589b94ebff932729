#pragma once
// HTTP stage (private): flood bounds for one HTTP/2 connection, judged on the raw frame
// headers of what the client sends, before nghttp2 processes the bytes (pure; no I/O).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "tollgate/http/http2_limits.hpp"

namespace tollgate::http {

class FrameGuard {
 public:
  // `max_header_block_bytes` bounds one header block (HEADERS + CONTINUATION payloads).
  FrameGuard(const Http2Limits& limits, std::size_t max_header_block_bytes);

  // Scans the next bytes the client sent (starting with its 24-byte preface). Returns the
  // first bound broken; once it has returned one, the connection must end.
  std::optional<Http2Protection> scan(std::span<const std::uint8_t> bytes, std::chrono::steady_clock::time_point now);

 private:
  std::optional<Http2Protection> on_frame(std::uint32_t length, std::uint8_t type, std::uint8_t flags,
                                          std::chrono::steady_clock::time_point now);

  Http2Limits limits_;
  std::size_t max_block_bytes_;
  std::size_t preface_left_ = 24;
  std::uint8_t head_[9] = {};
  std::size_t head_have_ = 0;
  std::uint64_t payload_left_ = 0;
  bool in_header_block_ = false;
  std::size_t continuations_ = 0;
  std::uint64_t block_bytes_ = 0;
  std::chrono::steady_clock::time_point window_start_{};
  std::size_t resets_ = 0;
  std::size_t settings_ = 0;
  std::size_t pings_ = 0;
};

}  // namespace tollgate::http
