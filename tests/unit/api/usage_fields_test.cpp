#include "tollgate/api/usage_fields.hpp"

#include <ostream>
#include <string>

#include <gtest/gtest.h>

namespace tollgate::api {
namespace {

struct UsageCase {
  const char* name;
  std::string body;
  std::optional<std::pair<std::int64_t, std::int64_t>> usage;
};

void PrintTo(const UsageCase& c, std::ostream* os) { *os << c.name; }

class ExtractUsage : public ::testing::TestWithParam<UsageCase> {};

TEST_P(ExtractUsage, Reads) {
  const UsageCase& c = GetParam();
  const auto usage = extract_usage(c.body);
  ASSERT_EQ(usage.has_value(), c.usage.has_value()) << c.body;
  if (usage) {
    EXPECT_EQ(usage->prompt.value, c.usage->first);
    EXPECT_EQ(usage->completion.value, c.usage->second);
  }
}

const std::string kChatResponse =
    R"({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o",)"
    R"("choices":[{"index":0,"message":{"role":"assistant","content":"Hi \"there\" {[}]"},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,)"
    R"("prompt_tokens_details":{"cached_tokens":0}},"system_fingerprint":"fp"})";

INSTANTIATE_TEST_SUITE_P(
    Table, ExtractUsage,
    ::testing::Values(
        UsageCase{"chat", kChatResponse, std::pair{12, 7}},
        UsageCase{"usage_first", R"({"usage":{"completion_tokens":3,"prompt_tokens":5},"choices":[]})", std::pair{5, 3}},
        UsageCase{"embeddings", R"({"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,-0.2,3e-5]}],)"
                                R"("model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}})",
                  std::pair{8, 0}},
        UsageCase{"completion_null", R"({"usage":{"prompt_tokens":8,"completion_tokens":null}})", std::pair{8, 0}},
        UsageCase{"stream_chunk_with_usage", R"({"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}})", std::pair{1, 2}},
        UsageCase{"no_usage", R"({"id":"c","choices":[{"index":0}]})", std::nullopt},
        UsageCase{"usage_null", R"({"id":"c","choices":[],"usage":null})", std::nullopt},
        UsageCase{"no_prompt_tokens", R"({"usage":{"completion_tokens":2}})", std::nullopt},
        UsageCase{"negative", R"({"usage":{"prompt_tokens":-1,"completion_tokens":2}})", std::nullopt},
        UsageCase{"string_count", R"({"usage":{"prompt_tokens":"1","completion_tokens":2}})", std::nullopt},
        UsageCase{"decimal_count", R"({"usage":{"prompt_tokens":1.5}})", std::nullopt},
        UsageCase{"not_json", "upstream exploded", std::nullopt},
        UsageCase{"truncated", R"({"usage":{"prompt_tokens":1,)", std::nullopt},
        UsageCase{"array", R"([{"usage":{"prompt_tokens":1}}])", std::nullopt},
        UsageCase{"empty", "", std::nullopt}),
    [](const ::testing::TestParamInfo<UsageCase>& info) { return std::string(info.param.name); });

TEST(ExtractUsageLarge, SpikeAboveRetainedSizeThenSmall) {
  // 9 MiB of embedding numbers, then an ordinary body: both read correctly (the per-thread
  // buffers are released and regrown in between).
  std::string big = R"({"data":[{"embedding":[)";
  while (big.size() < (std::size_t{9} << 20)) big += "0.0123,";
  big += R"(0]}],"usage":{"prompt_tokens":3,"total_tokens":3}})";
  const auto usage = extract_usage(big);
  ASSERT_TRUE(usage.has_value());
  EXPECT_EQ(usage->prompt.value, 3);
  const auto small = extract_usage(R"({"usage":{"prompt_tokens":4,"completion_tokens":1}})");
  ASSERT_TRUE(small.has_value());
  EXPECT_EQ(small->completion.value, 1);
}

}  // namespace
}  // namespace tollgate::api
