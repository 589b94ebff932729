#pragma once
// Realistic upstream SSE streams shared by the stream module's tests (and mirrored in the
// sse_parser fuzzer's seed corpus).
#include <string>
#include <string_view>
#include <vector>

namespace tollgate::stream::test {

using namespace std::string_view_literals;

struct CorpusStream {
  std::string_view name;
  std::string_view bytes;
};

// OpenAI chat: role chunk, content chunks, finish chunk, usage chunk (include_usage), [DONE].
inline constexpr std::string_view kChatWithUsage =
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732270000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732270000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732270000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732270000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732270000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1732270000,"
    "\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
    "\"completion_tokens\":3,\"total_tokens\":15}}\n\n"
    "data: [DONE]\n\n";

// Tool-call argument deltas, as OpenAI streams a function call.
inline constexpr std::string_view kToolCalls =
    "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,"
    "\"id\":\"call_abc\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
    "\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"loc\"}}]},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ation\\\": \\\"Paris\\\"}\"}}]},"
    "\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,"
    "\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"
    "data: [DONE]\n\n";

// Legacy completions: `text` chunks, no usage.
inline constexpr std::string_view kCompletions =
    "data: {\"id\":\"cmpl-3\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"Once\","
    "\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-3\",\"object\":\"text_completion\",\"choices\":[{\"text\":\" upon\","
    "\"index\":0,\"logprobs\":null,\"finish_reason\":null}]}\n\n"
    "data: {\"id\":\"cmpl-3\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"\","
    "\"index\":0,\"logprobs\":null,\"finish_reason\":\"length\"}]}\n\n"
    "data: [DONE]\n\n";

// Keep-alive comments between events and CRLF line endings (the mock's --sse-comments shape).
inline constexpr std::string_view kKeepAliveCrlf =
    ": keep-alive\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok0 \"}}]}\r\n\r\n"
    ": keep-alive\r\n\r\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok1 \"}}]}\r\n\r\n"
    ": keep-alive\r\n\r\n"
    "data: [DONE]\r\n\r\n";

// Lone CR line endings, including a CR-ended event right at the end of the stream.
inline constexpr std::string_view kLoneCr =
    "data: a\r\r"
    ":c\rdata: b\r\r"
    "\r"
    "data: [DONE]\r\r";

// event:, id:, retry:, an unknown field, a field without a colon, a value without the space
// (or with two), a comment between fields.
inline constexpr std::string_view kFields =
    "retry: 3000\n\n"
    "event: message_start\nid: 7\ndata: {\"type\":\"message_start\"}\n\n"
    "event: ping\n: comment line\nfoo: bar\ndata:no-space\n\n"
    "data:  two spaces\nid\nevent\n\n"
    "data\n\n"
    "id: a\0b\ndata: x\n\n"sv;

// Multi-line data, including empty data lines.
inline constexpr std::string_view kMultiLine =
    "data: {\"a\":\ndata: 1}\n\n"
    "data: first\ndata:\ndata: third\n\n"
    "data: [DONE]\ndata: not done\n\n";

// A stream cut off in the middle of an event.
inline constexpr std::string_view kTrailing =
    "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"y";

// UTF-8 multibyte content (é, an emoji) raw and escaped; splits land inside the sequences.
inline constexpr std::string_view kUtf8 =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\"}}]}\n\n"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"caf\\u00e9 \\ud83d\\ude00\"}}]}\n\n"
    "data: [DONE]\n\n";

// Mixed line endings, leading blank lines and a BOM.
inline constexpr std::string_view kMixed =
    "\xEF\xBB\xBF"
    "data: bom\r\n\n"
    "\n\r\n"
    "data: x\rdata: y\n\r"
    "data: z\r\n\r";

// An in-band provider error, then the gateway-style ending.
inline constexpr std::string_view kInBandError =
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n"
    "data: {\"error\":{\"message\":\"upstream reset\",\"type\":\"api_error\","
    "\"code\":\"upstream_error\",\"param\":null}}\n\n"
    "data: [DONE]\n\n";

inline std::vector<CorpusStream> corpus() {
  return {
      {"chat_with_usage", kChatWithUsage},
      {"tool_calls", kToolCalls},
      {"completions", kCompletions},
      {"keep_alive_crlf", kKeepAliveCrlf},
      {"lone_cr", kLoneCr},
      {"fields", kFields},
      {"multi_line", kMultiLine},
      {"trailing", kTrailing},
      {"utf8", kUtf8},
      {"mixed", kMixed},
      {"in_band_error", kInBandError},
  };
}

}  // namespace tollgate::stream::test
