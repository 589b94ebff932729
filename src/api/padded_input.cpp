#include "tollgate/api/padded_input.hpp"

#include <cstring>
#include <vector>

namespace tollgate::api {
namespace {

// A worker keeps buffers this large between parses. A bigger input (a large provider response
// read by extract_usage) grows them for that parse; the next ordinary input gives the memory
// back instead of pinning several times the spike's size on the thread for good.
constexpr std::size_t kRetainedBytes = std::size_t{8} << 20;

}  // namespace

PaddedInput padded_copy(std::string_view bytes) {
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
  return PaddedInput{parser, std::string_view(buffer.data(), bytes.size()), buffer.size()};
}

}  // namespace tollgate::api
