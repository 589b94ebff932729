// libFuzzer target for the HTTP/2 frame guard (the flood bounds judged before nghttp2 sees the
// bytes). The first four bytes choose the bounds, the split seed and how far the clock moves
// between pieces; the rest is what a client sends, preface included. The guard, fed piece by
// piece, must report the same protection at the same frame as a model that walks the whole
// input frame by frame, and nothing before it.
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "h2_frame_guard.hpp"

namespace {

using tollgate::http::FrameGuard;
using tollgate::http::Http2Limits;
using tollgate::http::Http2Protection;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kPreface = 24;
constexpr std::size_t kFrameHead = 9;

void check(bool condition) {
  if (!condition) std::abort();
}

struct Verdict {
  Http2Protection reason;
  std::size_t frame_end;  // offset just past the 9-byte head of the frame that broke the bound
};

// The bounds as the issue states them, applied to whole frames in order: a fixed window of
// `interval` restarts the reset/SETTINGS/PING counts; CONTINUATIONs after one HEADERS without
// END_HEADERS are counted and their payloads summed into the header block.
class Model {
 public:
  Model(const Http2Limits& limits, std::size_t max_block) : limits_(limits), max_block_(max_block) {}

  std::optional<Http2Protection> frame(std::uint32_t length, std::uint8_t type, std::uint8_t flags,
                                       Clock::time_point now) {
    if (now - window_start_ >= limits_.interval) {
      window_start_ = now;
      resets_ = settings_ = pings_ = 0;
    }
    const bool ack = (flags & 0x1) != 0;
    const bool end_headers = (flags & 0x4) != 0;
    if (type == 0x1) {  // HEADERS
      open_block_ = !end_headers;
      continuations_ = 0;
      block_ = length;
    } else if (type == 0x9 && open_block_) {  // CONTINUATION
      if (++continuations_ > limits_.max_continuations) return Http2Protection::continuation_flood;
      block_ += length;
      if (block_ > max_block_) return Http2Protection::header_list_too_large;
      open_block_ = !end_headers;
    } else if (type == 0x3 && ++resets_ > limits_.max_resets_per_interval) {
      return Http2Protection::rapid_reset;
    } else if (type == 0x4 && !ack && ++settings_ > limits_.max_settings_per_interval) {
      return Http2Protection::settings_flood;
    } else if (type == 0x6 && !ack && ++pings_ > limits_.max_pings_per_interval) {
      return Http2Protection::ping_flood;
    }
    return std::nullopt;
  }

 private:
  Http2Limits limits_;
  std::size_t max_block_;
  Clock::time_point window_start_{};
  bool open_block_ = false;
  std::size_t continuations_ = 0;
  std::uint64_t block_ = 0;
  std::size_t resets_ = 0, settings_ = 0, pings_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  // Small bounds, so short inputs reach them.
  Http2Limits limits;
  limits.interval = std::chrono::milliseconds(1 + (data[0] & 0x0F) * 10);
  limits.max_resets_per_interval = data[0] >> 4;
  limits.max_settings_per_interval = data[1] & 0x07;
  limits.max_pings_per_interval = (data[1] >> 3) & 0x07;
  limits.max_continuations = data[1] >> 6;
  const std::size_t max_block = 16 + std::size_t{data[2]} * 4;
  std::mt19937 random(data[3]);
  const auto step = std::chrono::milliseconds(data[3] & 0x1F);
  const std::span<const std::uint8_t> input(data + 4, size - 4);

  // Random cut points (each piece 0..32 bytes, empty pieces included); piece i is scanned at
  // base + i * step.
  std::vector<std::size_t> ends;
  for (std::size_t at = 0; at < input.size();) {
    at = std::min(input.size(), at + random() % 33);
    ends.push_back(at);
  }
  if (ends.empty()) ends.push_back(0);
  const Clock::time_point base = Clock::time_point{} + std::chrono::hours(1);
  const auto time_at = [&](std::size_t offset) {  // the time of the piece holding byte `offset`
    const auto piece = std::upper_bound(ends.begin(), ends.end(), offset) - ends.begin();
    return base + step * piece;
  };

  // The model, on whole frames.
  std::optional<Verdict> expected;
  Model model(limits, max_block);
  for (std::size_t at = kPreface; at + kFrameHead <= input.size();) {
    const std::uint32_t length = (std::uint32_t{input[at]} << 16) | (std::uint32_t{input[at + 1]} << 8) | input[at + 2];
    const std::size_t head_end = at + kFrameHead;
    if (auto reason = model.frame(length, input[at + 3], input[at + 4], time_at(head_end - 1))) {
      expected = Verdict{*reason, head_end};
      break;
    }
    at = head_end + length;
  }

  // The guard, piece by piece (each piece a copy of its own, so ASan catches a kept view).
  FrameGuard guard(limits, max_block);
  std::size_t begin = 0;
  for (std::size_t i = 0; i < ends.size(); ++i) {
    const std::vector<std::uint8_t> piece(input.begin() + static_cast<std::ptrdiff_t>(begin),
                                          input.begin() + static_cast<std::ptrdiff_t>(ends[i]));
    const auto got = guard.scan(piece, base + step * static_cast<int>(i));
    if (got) {
      // Tripped in the piece that completes the offending frame's head, for the same reason.
      check(expected.has_value());
      check(*got == expected->reason);
      check(begin < expected->frame_end && expected->frame_end <= ends[i]);
      return 0;
    }
    check(!expected || ends[i] < expected->frame_end);
    begin = ends[i];
  }
  check(!expected);
  return 0;
}
