#include "tollgate/api/request_fields.hpp"

#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tollgate/api/body_patch.hpp"

namespace tollgate::api {
namespace {

constexpr std::string_view kParse = "We could not parse the JSON body of your request: ";
constexpr std::string_view kMessages = R"("messages":[{"role":"user","content":"hi"}])";

std::string parse_message(std::string_view why) {
  return std::string(kParse) + std::string(why) + ".";
}

std::string chat(std::string_view members) {
  return R"({"model":"gpt-4o",)" + std::string(kMessages) + std::string(members) + "}";
}

struct BadCase {
  const char* name;
  Endpoint endpoint;
  std::string body;
  std::string message;
  std::string param;
};

// Readable names in failure output instead of a byte dump.
void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class ExtractFieldsRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(ExtractFieldsRejects, WithOpenAiStyleMessage) {
  const BadCase& c = GetParam();
  auto fields = extract_fields(c.endpoint, c.body);
  ASSERT_FALSE(fields.has_value()) << c.body;
  EXPECT_EQ(fields.error().code, Error::invalid_request);
  EXPECT_EQ(fields.error().message, c.message);
  EXPECT_EQ(fields.error().param, c.param);
}

const std::string kNotJson = parse_message("it is not valid JSON");
const std::string kNoModel = "you must provide a model parameter";
const std::string kNotObject = "The request body must be a JSON object.";
const auto kChat = Endpoint::chat_completions;
const auto kCompletions = Endpoint::completions;
const auto kEmbeddings = Endpoint::embeddings;

std::string nested(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') + std::string(static_cast<std::size_t>(depth), ']');
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExtractFieldsRejects,
    ::testing::Values(
        // Not JSON, or not an object.
        BadCase{"empty", kChat, "", parse_message("it is empty"), ""},
        BadCase{"blank", kChat, " \n ", parse_message("it is empty"), ""},
        BadCase{"truncated", kChat, R"({"model":"m",)", kNotJson, ""},
        BadCase{"array", kChat, "[1,2]", kNotObject, ""},
        BadCase{"string", kChat, R"("gpt-4o")", kNotObject, ""},
        BadCase{"number", kChat, "42", kNotObject, ""},
        BadCase{"trailing_garbage", kChat, chat("") + " x", kNotJson, ""},
        BadCase{"trailing_object", kChat, chat("") + "{}", parse_message("there is content after the JSON object"), ""},
        BadCase{"trailing_brace", kChat, chat("") + "}", parse_message("there is content after the JSON object"), ""},
        BadCase{"trailing_comma", kChat, chat(R"(,"n":1,)"), kNotJson, ""},
        BadCase{"invalid_utf8_in_string", kChat, chat(",\"x\":\"\xff\""), parse_message("it is not valid UTF-8"), ""},
        BadCase{"invalid_utf8_overlong", kChat, chat(",\"x\":\"\xc0\xaf\""), parse_message("it is not valid UTF-8"), ""},
        BadCase{"invalid_utf8_in_key", kChat, chat(",\"\xed\xa0\x80\":1"), parse_message("it is not valid UTF-8"), ""},
        BadCase{"control_char_in_string", kChat, chat(",\"x\":\"a\x01\""), parse_message("a string contains an unescaped control character"), ""},
        BadCase{"bad_escape", kChat, chat(R"(,"x":"\q")"), kNotJson, ""},
        BadCase{"lone_surrogate", kChat, chat(R"(,"x":"\ud800")"), kNotJson, ""},
        BadCase{"bad_literal", kChat, chat(R"(,"x":tru)"), kNotJson, ""},
        BadCase{"bad_null", kChat, chat(R"(,"x":nul)"), kNotJson, ""},
        BadCase{"leading_zero", kChat, chat(R"(,"temperature":01)"), kNotJson, ""},
        BadCase{"bare_minus", kChat, chat(R"(,"temperature":-)"), kNotJson, ""},
        BadCase{"bad_exponent", kChat, chat(R"(,"temperature":1e)"), kNotJson, ""},
        BadCase{"array_trailing_comma", kChat, chat(R"(,"stop":["a",])"), kNotJson, ""},
        BadCase{"missing_colon", kChat, chat(R"(,"stop" "a")"), kNotJson, ""},
        BadCase{"deep_nesting", kChat, chat(",\"x\":" + nested(70)), parse_message("it is nested more than 64 levels deep"), ""},
        BadCase{"deep_in_messages", kChat, R"({"model":"m","messages":[{"content":)" + nested(62) + "}]}", parse_message("it is nested more than 64 levels deep"), ""},
        // A broken body is reported as such even when an earlier field is also wrong.
        BadCase{"parse_error_wins", kChat, R"({"model":1,"messages":[],"x":tru})", kNotJson, ""},
        // model
        BadCase{"model_missing", kChat, R"({"messages":[{"role":"user","content":"hi"}]})", kNoModel, "model"},
        BadCase{"model_null", kChat, R"({"model":null,)" + std::string(kMessages) + "}", kNoModel, "model"},
        BadCase{"model_empty", kChat, R"({"model":"",)" + std::string(kMessages) + "}", kNoModel, "model"},
        BadCase{"model_number", kChat, R"({"model":4,)" + std::string(kMessages) + "}", "Invalid type for 'model': expected a string, but got an integer instead.", "model"},
        BadCase{"model_array", kChat, R"({"model":["a"],)" + std::string(kMessages) + "}", "Invalid type for 'model': expected a string, but got an array instead.", "model"},
        BadCase{"model_duplicate", kChat, chat(R"(,"model":"gpt-4o-mini")"), "Duplicate 'model' field in the request body.", "model"},
        BadCase{"model_duplicate_escaped", kChat, chat(R"(,"mod\u0065l":"gpt-4o-mini")"), "Duplicate 'model' field in the request body.", "model"},
        // Other fields the gateway reads.
        BadCase{"stream_string", kChat, chat(R"(,"stream":"yes")"), "Invalid type for 'stream': expected a boolean, but got a string instead.", "stream"},
        BadCase{"stream_duplicate", kChat, chat(R"(,"stream":true,"stream":false)"), "Duplicate 'stream' field in the request body.", "stream"},
        BadCase{"stream_options_number", kChat, chat(R"(,"stream_options":5)"), "Invalid type for 'stream_options': expected an object, but got an integer instead.", "stream_options"},
        BadCase{"include_usage_string", kChat, chat(R"(,"stream_options":{"include_usage":"yes"})"), "Invalid type for 'stream_options.include_usage': expected a boolean, but got a string instead.", "stream_options.include_usage"},
        BadCase{"max_tokens_zero", kChat, chat(R"(,"max_tokens":0)"), "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1.", "max_tokens"},
        BadCase{"max_tokens_negative", kChat, chat(R"(,"max_tokens":-3)"), "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1.", "max_tokens"},
        BadCase{"max_tokens_huge", kChat, chat(R"(,"max_tokens":99999999999999999999)"), "Invalid 'max_tokens': integer above maximum value.", "max_tokens"},
        BadCase{"max_tokens_decimal", kChat, chat(R"(,"max_tokens":1.5)"), "Invalid type for 'max_tokens': expected an integer, but got a decimal number instead.", "max_tokens"},
        BadCase{"max_tokens_string", kChat, chat(R"(,"max_tokens":"5")"), "Invalid type for 'max_tokens': expected an integer, but got a string instead.", "max_tokens"},
        BadCase{"max_tokens_duplicate", kChat, chat(R"(,"max_tokens":5,"max_tokens":500)"), "Duplicate 'max_tokens' field in the request body.", "max_tokens"},
        BadCase{"max_completion_tokens_exponent", kChat, chat(R"(,"max_completion_tokens":1e2)"), "Invalid type for 'max_completion_tokens': expected an integer, but got a decimal number instead.", "max_completion_tokens"},
        BadCase{"user_number", kChat, chat(R"(,"user":5)"), "Invalid type for 'user': expected a string, but got an integer instead.", "user"},
        // Chat messages.
        BadCase{"messages_missing", kChat, R"({"model":"m"})", "Missing required parameter: 'messages'.", "messages"},
        BadCase{"messages_string", kChat, R"({"model":"m","messages":"hi"})", "Invalid type for 'messages': expected an array, but got a string instead.", "messages"},
        BadCase{"messages_empty", kChat, R"({"model":"m","messages":[]})", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages"},
        BadCase{"message_not_object", kChat, R"({"model":"m","messages":[{"role":"user","content":"a"},"b"]})", "Invalid type for 'messages[1]': expected an object, but got a string instead.", "messages"},
        BadCase{"messages_duplicate", kChat, chat(R"(,"messages":[])"), "Duplicate 'messages' field in the request body.", "messages"},
        // Completions and embeddings.
        BadCase{"prompt_missing", kCompletions, R"({"model":"m"})", "Missing required parameter: 'prompt'.", "prompt"},
        BadCase{"prompt_number", kCompletions, R"({"model":"m","prompt":5})", "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of arrays of integers, but got an integer instead.", "prompt"},
        BadCase{"prompt_decimal_token", kCompletions, R"({"model":"m","prompt":[1,2.5]})", "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of arrays of integers, but got a decimal number instead.", "prompt"},
        BadCase{"prompt_object_element", kCompletions, R"({"model":"m","prompt":[{"a":1}]})", "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of arrays of integers, but got an object instead.", "prompt"},
        BadCase{"prompt_nested_string", kCompletions, R"({"model":"m","prompt":[[1,"a"]]})", "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of arrays of integers, but got a string instead.", "prompt"},
        BadCase{"input_missing", kEmbeddings, R"({"model":"m","prompt":"x"})", "Missing required parameter: 'input'.", "input"},
        BadCase{"input_null", kEmbeddings, R"({"model":"m","input":null})", "Invalid type for 'input': expected a string, an array of strings, an array of integers or an array of arrays of integers, but got null instead.", "input"},
        BadCase{"input_bad_json_inside", kEmbeddings, R"({"model":"m","input":["a",01]})", kNotJson, ""}),
    [](const ::testing::TestParamInfo<BadCase>& info) { return std::string(info.param.name); });

struct GoodCase {
  const char* name;
  Endpoint endpoint;
  std::string body;
  std::int64_t prompt_bound;
  std::size_t messages;
};

void PrintTo(const GoodCase& c, std::ostream* os) { *os << c.name; }

class ExtractFieldsBounds : public ::testing::TestWithParam<GoodCase> {};

TEST_P(ExtractFieldsBounds, PromptBoundByHand) {
  const GoodCase& c = GetParam();
  auto fields = extract_fields(c.endpoint, c.body);
  ASSERT_TRUE(fields.has_value()) << fields.error().message;
  EXPECT_EQ(fields->prompt_bound.value, c.prompt_bound);
  EXPECT_EQ(fields->messages, c.messages);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ExtractFieldsBounds,
    ::testing::Values(
        // "system"6 + "Be brief."9 + "user"4 + "café 😀" (3+2+1+4 = 10 bytes once unescaped)
        // = 29, + 4 per message x2 + 3 = 40.
        GoodCase{"chat_escapes", kChat,
                 R"({"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},)"
                 R"({"role":"user","content":"caf\u00e9 \ud83d\ude00"}]})",
                 40, 2},
        // The same text as raw UTF-8 counts the same.
        GoodCase{"chat_raw_utf8", kChat,
                 "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                 "{\"role\":\"user\",\"content\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}]}",
                 40, 2},
        // "user"4 + "text"4 + "hi"2 + "image_url"9 = 19; the image is 85, not its URL's length;
        // + 4 + 3 = 111.
        GoodCase{"chat_content_parts", kChat,
                 R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},)"
                 R"({"type":"image_url","image_url":{"url":"data:image/png;base64,AAAAAAAAAAAA"}}]}]})",
                 111, 1},
        // "assistant"9 + null 0 + "c1"2 + "function"8 + "f"1 + `{"a":1}`7 (unescaped) = 27,
        // "tool"4 + "c1"2 + "ok"2 = 8; 35 + 4x2 + 3 = 46.
        GoodCase{"chat_tool_calls", kChat,
                 R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[)"
                 R"({"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},)"
                 R"({"role":"tool","tool_call_id":"c1","content":"ok"}]})",
                 46, 2},
        // message "user"4 + "x"1 = 5, + 4 + 3 = 12. tools count keys and values: keys
        // type4 function8 name4 parameters10 type4 properties10 a1 type4 minimum7 = 52,
        // values "function"8 "f"1 "object"6 "integer"7 1(1) = 23; 12 + 75 = 87.
        GoodCase{"chat_tools", kChat,
                 R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function",)"
                 R"("function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer","minimum":1}}}}}]})",
                 87, 1},
        // response_format: keys type4 json_schema11 name4 = 19 + values "json_schema"11 "r"1 = 31;
        // + 12 = 43. Fields the bound ignores (temperature, metadata) add nothing.
        GoodCase{"chat_response_format", kChat,
                 R"({"model":"m","temperature":0.2,"metadata":{"k":"vvvvvvvv"},"messages":[{"role":"user","content":"x"}],)"
                 R"("response_format":{"type":"json_schema","json_schema":{"name":"r"}}})",
                 43, 1},
        // "ab"2 + "é"2 + 1 = 5
        GoodCase{"completions_strings", kCompletions, R"({"model":"m","prompt":["ab","\u00e9"],"max_tokens":16})", 5, 0},
        // "x\ny" unescaped is 3 bytes, + 1
        GoodCase{"completions_escape", kCompletions, R"({"model":"m","prompt":"x\ny"})", 4, 0},
        GoodCase{"completions_token_ids", kCompletions, R"({"model":"m","prompt":[1,2,3]})", 4, 0},
        GoodCase{"completions_token_id_arrays", kCompletions, R"({"model":"m","prompt":[[1,2],[3]]})", 4, 0},
        // suffix is inserted text: "ab"2 + "cd"2 + 1
        GoodCase{"completions_suffix", kCompletions, R"({"model":"m","prompt":"ab","suffix":"cd"})", 5, 0},
        GoodCase{"embeddings_string", kEmbeddings, R"({"model":"e","input":"hello"})", 5, 0},
        GoodCase{"embeddings_strings", kEmbeddings, "{\"model\":\"e\",\"input\":[\"a\",\"\xf0\x9f\x98\x80\",\"\\\"\"]}", 6, 0},
        GoodCase{"embeddings_token_ids", kEmbeddings, R"({"model":"e","input":[[1,2,3],[4]],"encoding_format":"float"})", 4, 0},
        // Nesting up to the limit is fine: root 1 + 63 arrays = 64 levels.
        GoodCase{"nesting_at_limit", kEmbeddings, R"({"model":"e","input":"","x":)" + nested(63) + "}", 0, 0}),
    [](const ::testing::TestParamInfo<GoodCase>& info) { return std::string(info.param.name); });

TEST(ExtractFields, ReadsEveryField) {
  const std::string body =
      R"({ "model" : "gpt-4o" , "stream":true, "stream_options": {"include_usage": true, "x": [1]} ,)"
      R"("max_tokens":100,"max_completion_tokens":200,"user":"u-\u0034\u0032",)" + std::string(kMessages) + " }\n";
  auto fields = extract_fields(Endpoint::chat_completions, body);
  ASSERT_TRUE(fields.has_value()) << fields.error().message;
  EXPECT_EQ(fields->model, "gpt-4o");
  EXPECT_EQ(body.substr(fields->model_token.offset, fields->model_token.length), R"("gpt-4o")");
  EXPECT_TRUE(fields->stream);
  EXPECT_TRUE(fields->include_usage);
  ASSERT_TRUE(fields->stream_options_token.has_value());
  EXPECT_EQ(body.substr(fields->stream_options_token->offset, fields->stream_options_token->length),
            R"({"include_usage": true, "x": [1]})");
  EXPECT_EQ(fields->max_tokens, 100);
  EXPECT_EQ(fields->max_completion_tokens, 200);
  EXPECT_EQ(fields->user, "u-42");
  EXPECT_EQ(fields->messages, 1u);
  EXPECT_EQ(body[fields->object_end.offset], '}');
  EXPECT_EQ(fields->object_end.length, 0u);
  EXPECT_EQ(fields->object_end.offset, body.size() - 2);
}

TEST(ExtractFields, DefaultsAndNulls) {
  const std::string body = R"({"model":"m","stream":null,"stream_options":null,"max_tokens":null,)"
                           R"("max_completion_tokens":null,"user":null,)" + std::string(kMessages) + "}";
  auto fields = extract_fields(Endpoint::chat_completions, body);
  ASSERT_TRUE(fields.has_value()) << fields.error().message;
  EXPECT_FALSE(fields->stream);
  EXPECT_FALSE(fields->include_usage);
  EXPECT_FALSE(fields->stream_options_token.has_value());
  EXPECT_FALSE(fields->max_tokens.has_value());
  EXPECT_FALSE(fields->max_completion_tokens.has_value());
  EXPECT_FALSE(fields->user.has_value());
}

TEST(ExtractFields, UnescapesModel) {
  const std::string body = R"({"model":"gpt\u002d4o\/x",)" + std::string(kMessages) + "}";
  auto fields = extract_fields(Endpoint::chat_completions, body);
  ASSERT_TRUE(fields.has_value()) << fields.error().message;
  EXPECT_EQ(fields->model, "gpt-4o/x");
  EXPECT_EQ(body.substr(fields->model_token.offset, fields->model_token.length), R"("gpt\u002d4o\/x")");
}

TEST(ExtractFields, OtherDuplicatesPass) {
  auto fields = extract_fields(Endpoint::chat_completions, chat(R"(,"temperature":1,"temperature":0)"));
  EXPECT_TRUE(fields.has_value());
}

TEST(ExtractFields, FieldsOfOtherEndpointsAreOnlyValidated) {
  // `prompt` means nothing to chat: validated, not counted, no type rule.
  auto fields = extract_fields(Endpoint::chat_completions, chat(R"(,"prompt":5,"input":{"a":"bbbb"})"));
  ASSERT_TRUE(fields.has_value());
  EXPECT_EQ(fields->prompt_bound.value, 4 + 2 + 4 + 3);
}

TEST(ExtractFields, LargeBodyThenSmallBodyReuseBuffers) {
  std::string big = R"({"model":"m","input":")" + std::string(100'000, 'a') + R"("})";
  auto first = extract_fields(Endpoint::embeddings, big);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->prompt_bound.value, 100'000);
  auto second = extract_fields(Endpoint::embeddings, R"({"model":"m","input":"ab"})");
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->prompt_bound.value, 2);
  // A shorter body after a longer one must not see the old bytes as trailing content.
  auto third = extract_fields(Endpoint::embeddings, R"({"model":"m","input":"ab")");
  EXPECT_FALSE(third.has_value());
}

TEST(ExtractFields, ModelPatchRoundTrip) {
  const std::string body = R"({"messages":[{"role":"user","content":"hi"}], "model" : "gpt-4o", "stream":true})";
  auto fields = extract_fields(Endpoint::chat_completions, body);
  ASSERT_TRUE(fields.has_value());
  for (std::string_view replacement : {"gpt-4o-mini", "we\"ird\\name\n\x01", "caf\xc3\xa9"}) {
    const std::string patched = replace_span(body, fields->model_token, json_string(replacement));
    auto again = extract_fields(Endpoint::chat_completions, patched);
    ASSERT_TRUE(again.has_value()) << patched;
    EXPECT_EQ(again->model, replacement);
    EXPECT_TRUE(again->stream);
    EXPECT_EQ(again->prompt_bound, fields->prompt_bound);
    EXPECT_EQ(patched.substr(again->model_token.offset, again->model_token.length), json_string(replacement));
  }
}

TEST(ExtractFields, InsertAtObjectEndRoundTrip) {
  const std::string body = "{\"model\":\"m\",\"prompt\":\"hello\"}\r\n";
  auto fields = extract_fields(Endpoint::completions, body);
  ASSERT_TRUE(fields.has_value());
  const std::string patched = apply_edits(
      body, {insert_member(fields->object_end, "max_tokens", "512"),
             Edit{fields->model_token, json_string("m2")}});
  EXPECT_EQ(patched, "{\"model\":\"m2\",\"prompt\":\"hello\",\"max_tokens\":512}\r\n");
  auto again = extract_fields(Endpoint::completions, patched);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->max_tokens, 512);
  EXPECT_EQ(again->model, "m2");
}

}  // namespace
}  // namespace tollgate::api
