#include "tollgate/api/body_patch.hpp"

#include <algorithm>
#include <stdexcept>

namespace tollgate::api {
namespace {

bool inside(std::string_view body, Span span) {
  return span.offset <= body.size() && span.length <= body.size() - span.offset;
}

}  // namespace

std::string replace_span(std::string_view body, Span span, std::string_view replacement) {
  if (!inside(body, span)) throw std::out_of_range("replace_span: span outside the body");
  std::string out;
  out.reserve(body.size() - span.length + replacement.size());
  out.append(body.substr(0, span.offset));
  out.append(replacement);
  out.append(body.substr(span.offset + span.length));
  return out;
}

std::string apply_edits(std::string_view body, std::vector<Edit> edits) {
  // Stable, and insertions (length 0) sort before a replacement at the same offset, so the
  // order callers give for several insertions at one point is kept.
  std::stable_sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) {
    if (a.span.offset != b.span.offset) return a.span.offset < b.span.offset;
    return (a.span.length == 0) && (b.span.length != 0);
  });
  std::size_t size = body.size();
  std::size_t previous_end = 0;
  for (const Edit& edit : edits) {
    if (!inside(body, edit.span)) throw std::out_of_range("apply_edits: span outside the body");
    if (edit.span.offset < previous_end) throw std::out_of_range("apply_edits: overlapping edits");
    previous_end = edit.span.offset + edit.span.length;
    size = size - edit.span.length + edit.text.size();
  }
  std::string out;
  out.reserve(size);
  std::size_t copied = 0;
  for (const Edit& edit : edits) {
    out.append(body.substr(copied, edit.span.offset - copied));
    out.append(edit.text);
    copied = edit.span.offset + edit.span.length;
  }
  out.append(body.substr(copied));
  return out;
}

Edit insert_member(Span object_end, std::string_view key, std::string_view raw_json_value) {
  std::string text = ",";
  append_json_string(text, key);
  text.push_back(':');
  text.append(raw_json_value);
  return Edit{Span{object_end.offset, 0}, std::move(text)};
}

}  // namespace tollgate::api
