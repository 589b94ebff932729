#include "h2_frame_guard.hpp"

#include <algorithm>

namespace tollgate::http {
namespace {

constexpr std::uint8_t kHeaders = 0x1;
constexpr std::uint8_t kRstStream = 0x3;
constexpr std::uint8_t kSettings = 0x4;
constexpr std::uint8_t kPing = 0x6;
constexpr std::uint8_t kContinuation = 0x9;
constexpr std::uint8_t kFlagAck = 0x1;
constexpr std::uint8_t kFlagEndHeaders = 0x4;

}  // namespace

FrameGuard::FrameGuard(const Http2Limits& limits, std::size_t max_header_block_bytes)
    : limits_(limits), max_block_bytes_(max_header_block_bytes) {}

std::optional<Http2Protection> FrameGuard::scan(std::span<const std::uint8_t> bytes,
                                                std::chrono::steady_clock::time_point now) {
  std::size_t at = 0;
  if (preface_left_ > 0) {
    const auto n = std::min(preface_left_, bytes.size());
    preface_left_ -= n;
    at += n;
  }
  while (at < bytes.size()) {
    if (payload_left_ > 0) {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, bytes.size() - at));
      payload_left_ -= n;
      at += n;
      continue;
    }
    const auto n = std::min(sizeof(head_) - head_have_, bytes.size() - at);
    std::copy_n(bytes.data() + at, n, head_ + head_have_);
    head_have_ += n;
    at += n;
    if (head_have_ < sizeof(head_)) break;
    head_have_ = 0;
    const std::uint32_t length = (std::uint32_t{head_[0]} << 16) | (std::uint32_t{head_[1]} << 8) | head_[2];
    payload_left_ = length;
    if (auto violation = on_frame(length, head_[3], head_[4], now)) return violation;
  }
  return std::nullopt;
}

std::optional<Http2Protection> FrameGuard::on_frame(std::uint32_t length, std::uint8_t type, std::uint8_t flags,
                                                    std::chrono::steady_clock::time_point now) {
  if (now - window_start_ >= limits_.interval) {
    window_start_ = now;
    resets_ = settings_ = pings_ = 0;
  }
  switch (type) {
    case kHeaders:
      in_header_block_ = (flags & kFlagEndHeaders) == 0;
      continuations_ = 0;
      block_bytes_ = length;
      break;
    case kContinuation:
      // Outside a header block nghttp2 answers with a connection error itself.
      if (!in_header_block_) break;
      if (++continuations_ > limits_.max_continuations) return Http2Protection::continuation_flood;
      block_bytes_ += length;
      if (block_bytes_ > max_block_bytes_) return Http2Protection::header_list_too_large;
      if ((flags & kFlagEndHeaders) != 0) in_header_block_ = false;
      break;
    case kRstStream:
      if (++resets_ > limits_.max_resets_per_interval) return Http2Protection::rapid_reset;
      break;
    case kSettings:
      if ((flags & kFlagAck) == 0 && ++settings_ > limits_.max_settings_per_interval) {
        return Http2Protection::settings_flood;
      }
      break;
    case kPing:
      if ((flags & kFlagAck) == 0 && ++pings_ > limits_.max_pings_per_interval) return Http2Protection::ping_flood;
      break;
    default:
      break;
  }
  return std::nullopt;
}

}  // namespace tollgate::http
