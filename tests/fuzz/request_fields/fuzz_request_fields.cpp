// libFuzzer target for the parse stage: extract_fields must never crash on any bytes, and what
// it returns must be usable to patch the body (model span, object end).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "tollgate/api/body_patch.hpp"
#include "tollgate/api/request_fields.hpp"
#include "tollgate/api/usage_fields.hpp"

namespace {

using tollgate::api::Endpoint;
using tollgate::api::RequestFields;

constexpr std::string_view kParseFailure = "We could not parse";

void check(bool condition) {
  if (!condition) std::abort();
}

bool same_fields(const RequestFields& a, const RequestFields& b) {
  return a.stream == b.stream && a.include_usage == b.include_usage &&
         a.max_tokens == b.max_tokens && a.max_completion_tokens == b.max_completion_tokens &&
         a.user == b.user && a.prompt_bound == b.prompt_bound && a.messages == b.messages;
}

// An independent full validation. It differs from extract_fields only where the DOM parser is
// stricter about numbers (it rejects 1e400 and integers past 64 bits) or allows deeper nesting.
simdjson::error_code dom_parse(std::string_view body) {
  static simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(simdjson::padded_string(body)).get(root);
}

void check_endpoint(Endpoint endpoint, std::string_view body) {
  auto fields = tollgate::api::extract_fields(endpoint, body);
  const simdjson::error_code dom = dom_parse(body);
  if (!fields) {
    check(fields.error().code == tollgate::Error::invalid_request);
    check(!fields.error().message.empty());
    // What the oracle accepts, we may refuse for its fields or its depth, never as malformed.
    // Result::error() returns a copy: keep it alive.
    const std::string message = fields.error().message;
    if (dom == simdjson::SUCCESS && message.starts_with(kParseFailure)) {
      check(message.find("nested") != std::string_view::npos);
    }
    return;
  }
  check(dom == simdjson::SUCCESS || dom == simdjson::NUMBER_ERROR ||
        dom == simdjson::NUMBER_OUT_OF_RANGE);

  const tollgate::api::Span model = fields->model_token;
  check(model.length >= 2 && model.offset + model.length <= body.size());
  check(body[model.offset] == '"' && body[model.offset + model.length - 1] == '"');
  check(!fields->model.empty());
  check(fields->object_end.length == 0 && fields->object_end.offset < body.size());
  check(body[fields->object_end.offset] == '}');
  check(fields->prompt_bound.value >= 0);
  if (fields->stream_options_token) {
    const tollgate::api::Span so = *fields->stream_options_token;
    check(so.offset + so.length <= body.size() && so.length >= 2);
    check(body[so.offset] == '{' && body[so.offset + so.length - 1] == '}');
  }

  // Downgrade the model and add a member at the end: the result parses to the same fields.
  const std::string new_model = "downgraded \"model\"\n\xc3\xa9";
  const std::string patched = tollgate::api::apply_edits(
      body, {tollgate::api::Edit{model, tollgate::json_string(new_model)},
             tollgate::api::insert_member(fields->object_end, "x-tollgate-added", "[1,{}]")});
  auto again = tollgate::api::extract_fields(endpoint, patched);
  check(again.has_value());
  check(again->model == new_model);
  check(same_fields(*fields, *again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  check_endpoint(Endpoint::chat_completions, body);
  check_endpoint(Endpoint::completions, body);
  check_endpoint(Endpoint::embeddings, body);
  // The usage reader sees provider bytes: it must not crash on any of them either.
  (void)tollgate::api::extract_usage(body);
  // json_string of any bytes embeds into a valid body whose model reads back (UTF-8 repaired).
  const std::string wrapped = R"({"model":)" + tollgate::json_string(body) + R"(,"input":""})";
  auto fields = tollgate::api::extract_fields(Endpoint::embeddings, wrapped);
  check(fields.has_value() || body.empty());
  return 0;
}
