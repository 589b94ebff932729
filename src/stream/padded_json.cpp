#include "padded_json.hpp"

#include <cstring>
#include <vector>

namespace tollgate::stream::detail {
namespace {

// Chunks are small; a rare huge one (up to the parser's max_event_bytes) grows the buffers for
// that parse only, and the next ordinary chunk gives the memory back.
constexpr std::size_t kRetainedBytes = std::size_t{256} << 10;

}  // namespace

PaddedJson padded_copy(std::string_view bytes) {
  thread_local simdjson::ondemand::parser parser;
  thread_local std::vector<char> buffer;
  const std::size_t needed = bytes.size() + simdjson::SIMDJSON_PADDING;
  if (buffer.size() > kRetainedBytes && bytes.size() <= kRetainedBytes) {
    std::vector<char>().swap(buffer);
    parser = simdjson::ondemand::parser{};
  }
  if (buffer.size() < needed) buffer.resize(needed);
  if (!bytes.empty()) std::memcpy(buffer.data(), bytes.data(), bytes.size());
  std::memset(buffer.data() + bytes.size(), 0, simdjson::SIMDJSON_PADDING);
  return PaddedJson{parser, std::string_view(buffer.data(), bytes.size()), buffer.size()};
}

}  // namespace tollgate::stream::detail
