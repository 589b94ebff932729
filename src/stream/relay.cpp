#include "tollgate/stream/relay.hpp"

#include "tollgate/api/error_response.hpp"
#include "tollgate/stream/chunk_inspector.hpp"

namespace tollgate::stream {

Relay::Relay(RelayOptions options) : options_(options) {}

bool Relay::on_upstream(std::string_view bytes, std::string& out) {
  out.clear();
  if (finished_) return false;
  auto fed = parser_.feed(bytes, [&](const SseEvent& event) {
    if (!finished_) on_event(event, out);
  });
  if (!fed) end_with(fed.error(), out);
  return !finished_;
}

void Relay::on_event(const SseEvent& event, std::string& out) {
  if (!event.has_data) {  // comments and keep-alives pass through; they keep proxies awake
    out.append(event.raw);
    return;
  }
  const ChunkInfo info = inspect_chunk(event.data);
  if (info.prompt_tokens) provider_prompt_ = info.prompt_tokens;
  if (info.completion_tokens) provider_completion_ = info.completion_tokens;
  switch (info.kind) {
    case ChunkInfo::Kind::usage_only:
      if (options_.client_wants_usage) out.append(event.raw);
      return;
    case ChunkInfo::Kind::done:
      done_seen_ = true;
      out.append(event.raw);
      return;
    case ChunkInfo::Kind::error:
      upstream_error_ = true;
      out.append(event.raw);
      return;
    case ChunkInfo::Kind::content:
      out.append(event.raw);
      counter_.add(info);
      if (!info.has_content) return;
      content_started_ = true;
      if (options_.budget != nullptr && !options_.budget->allow(counter_.tokens())) {
        cut_off_ = true;
        end_with(fail(Error::budget_exceeded, "The stream was stopped because the budget is exhausted."), out);
      }
      return;
    case ChunkInfo::Kind::other:
      out.append(event.raw);
      return;
  }
}

void Relay::end_with(const Failure& failure, std::string& out) {
  finished_ = true;
  if (!done_seen_) out += api::sse_error_event(failure);
}

void Relay::on_upstream_end(std::string& out) {
  out.clear();
  if (finished_) return;
  parser_.finish([&](const SseEvent& event) {
    if (!finished_) on_event(event, out);
  });
  if (finished_) return;
  finished_ = true;
  if (!done_seen_) {
    // The provider closed the body cleanly but never said [DONE]: tell the client it is over.
    upstream_error_ = true;
    out += api::sse_error_event(fail(Error::upstream_error, "The upstream provider ended the stream early."));
  }
}

void Relay::on_upstream_failure(const Failure& failure, std::string& out) {
  out.clear();
  if (finished_) return;
  upstream_error_ = !done_seen_;
  end_with(failure, out);
}

StreamUsage Relay::usage(Tokens prompt_bound) const {
  if (provider_prompt_ && provider_completion_) return StreamUsage{*provider_prompt_, *provider_completion_, true};
  return StreamUsage{provider_prompt_.value_or(prompt_bound), counter_.tokens(), false};
}

}  // namespace tollgate::stream
