// The request path, top to bottom. Each stage lives in its own module; this file only
// orders them and turns their failures into responses (through api::to_error_response).
#include <chrono>
#include <optional>

#include <boost/asio/this_coro.hpp>

#include "endpoints.hpp"
#include "request_metrics.hpp"
#include "stream_allowance.hpp"
#include "stream_response.hpp"
#include "tollgate/api/body_patch.hpp"
#include "tollgate/api/error_response.hpp"
#include "tollgate/api/models_list.hpp"
#include "tollgate/api/rate_limit_headers.hpp"
#include "tollgate/api/request_fields.hpp"
#include "tollgate/api/usage_report.hpp"
#include "tollgate/api/usage_fields.hpp"
#include "tollgate/auth/authenticate.hpp"
#include "tollgate/core/json_string.hpp"
#include "tollgate/core/request_id.hpp"
#include "tollgate/gateway/access_log.hpp"
#include "tollgate/gateway/gateway.hpp"
#include "tollgate/limits/charge.hpp"
#include "tollgate/routing/resolve.hpp"
#include "tollgate/usage/event.hpp"

namespace tollgate::gateway {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

// Whole (non-streaming) provider replies larger than this are refused with 502.
constexpr std::size_t kMaxReplyBytes = 64 * 1024 * 1024;

// Per-request state; lives in the handle() coroutine frame.
struct RequestContext {
  std::string id;
  std::chrono::steady_clock::time_point started;
  std::shared_ptr<const config::Config> config;  // the snapshot this request uses throughout
  AccessRecord log;
  // Set once the request is admitted: then it gets a usage event, whatever its outcome.
  bool admitted = false;
  std::string_view plan;
  std::string_view provider;
  std::optional<std::string_view> feature;   // x-tollgate-feature
  std::optional<std::string_view> agent;     // x-tollgate-agent
  std::optional<std::string_view> end_user;  // the body's `user`
  usage::Sink* sink = nullptr;
  AccessLog* access_log = nullptr;
  std::size_t worker = 0;
  // For the metrics: the configured model name once routed, the refusal's reason, and the time
  // spent waiting on the provider (what is not the gateway's own overhead).
  metrics::Shard* metrics = nullptr;
  std::string_view model_label;
  std::string_view rejected;
  std::chrono::steady_clock::duration upstream_wait{};
  std::optional<std::chrono::steady_clock::time_point> first_token_at;
};

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The request's contribution to the worker's metrics shard (SPEC section 7).
void record_metrics(const RequestContext& ctx) {
  const auto total = std::chrono::steady_clock::now() - ctx.started;
  metrics::RequestSample sample;
  sample.tenant = ctx.log.tenant;
  sample.model = ctx.model_label;
  sample.provider = ctx.provider;
  sample.status = ctx.log.status;
  sample.rejected = ctx.rejected;
  sample.duration_s = seconds(total);
  sample.overhead_s = seconds(total - ctx.upstream_wait);
  if (ctx.first_token_at) sample.ttft_s = seconds(*ctx.first_token_at - ctx.started);
  sample.input_tokens = ctx.log.input_tokens.value;
  sample.output_tokens = ctx.log.output_tokens.value;
  sample.cost_nano_usd = ctx.log.cost.value;
  ctx.metrics->record(sample);
}

// The end of every request: its access-log line and, when it was admitted, its usage event
// (handed to the sink; never waited for).
void finish(RequestContext& ctx) {
  ctx.access_log->write(ctx.worker, ctx.log);
  record_metrics(ctx);
  if (!ctx.admitted || ctx.sink == nullptr) return;
  const AccessRecord& l = ctx.log;
  usage::UsageEvent event{l.request_id, l.tenant, l.key_name, l.key_prefix, ctx.plan, l.route, ctx.provider,
                          l.model_requested, l.model, l.stream, l.status, l.outcome, l.token_source,
                          l.input_tokens, l.output_tokens, l.cost, l.latency_ms,
                          l.ttft_ms < 0 ? std::nullopt : std::optional<std::int64_t>(l.ttft_ms),
                          ctx.feature, ctx.agent, ctx.end_user};
  ctx.sink->emit(ctx.worker, usage::to_record(event, ctx.config->usage.format, std::chrono::system_clock::now()));
}

std::optional<std::string_view> optional_header(const http::Request& request, std::string_view name) {
  const auto it = request.find(name);
  if (it == request.end()) return std::nullopt;
  return std::string_view(it->value().data(), it->value().size());
}

std::int64_t elapsed_ms(const RequestContext& ctx) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - ctx.started)
      .count();
}

http::Response make_response(unsigned status, std::string_view content_type, std::string body,
                             const RequestContext& ctx) {
  http::Response response{static_cast<bhttp::status>(status), 11};
  response.set(bhttp::field::content_type, content_type);
  response.set("x-request-id", ctx.id);
  response.body() = std::move(body);
  return response;
}

asio::awaitable<void> send(http::ResponseWriter& out, RequestContext& ctx, http::Response response) {
  ctx.log.status = response.result_int();
  ctx.log.latency_ms = elapsed_ms(ctx);
  co_await out.send(std::move(response));
  finish(ctx);
}

asio::awaitable<void> send_failure(http::ResponseWriter& out, RequestContext& ctx, const Failure& failure) {
  auto error = api::to_error_response(failure);
  ctx.log.error_code = error_name(failure.code);
  ctx.rejected = rejection_reason(failure.code);
  co_await send(out, ctx, make_response(error.status, "application/json", std::move(error.body), ctx));
}

// The body sent upstream: the client's bytes, patched only where SPEC section 4 says: `model`
// when the provider knows the model by another name or the plan downgraded it; the completion
// allowance when the client sent none (SPEC section 5), so the provider cannot produce more
// than was reserved; and `stream_options.include_usage` so a stream reports its usage (the
// relay removes the usage chunk again when the client did not ask for it). A client's other
// stream_options are replaced in that case (today OpenAI defines no other member worth keeping).
std::string forwarded_body(std::string body, Endpoint endpoint, const api::RequestFields& fields,
                           const routing::Route& route, const limits::ChargePlan& plan) {
  std::vector<api::Edit> edits;
  if (route.model->upstream_model != fields.model) {
    edits.push_back(api::Edit{fields.model_token, json_string(route.model->upstream_model)});
  }
  if (plan.write_allowance) {
    const std::string_view field = route.provider->max_tokens_field ? std::string_view(*route.provider->max_tokens_field)
                                   : endpoint == Endpoint::chat_completions ? "max_completion_tokens"
                                                                            : "max_tokens";
    edits.push_back(api::insert_member(fields.object_end, field, std::to_string(plan.allowance.value)));
  }
  if (fields.stream && !fields.include_usage) {
    static constexpr std::string_view kIncludeUsage = R"({"include_usage":true})";
    edits.push_back(fields.stream_options_token ? api::Edit{*fields.stream_options_token, std::string(kIncludeUsage)}
                                                : api::insert_member(fields.object_end, "stream_options", kIncludeUsage));
  }
  if (edits.empty()) return body;
  return api::apply_edits(body, std::move(edits));
}

// x-ratelimit-* for the tenant's per-minute buckets (SPEC section 4), on every admitted
// response and on 429s.
void set_rate_limit_headers(http::Response& response, const limits::Admission& admission) {
  const auto put = [&](std::string_view unit, const limits::BucketStatus& bucket) {
    const auto headers = api::bucket_headers(unit, bucket.limit, bucket.remaining, bucket.reset);
    for (const auto* h : {&headers.limit, &headers.remaining, &headers.reset}) response.set(h->name, h->value);
  };
  if (admission.requests) put("requests", *admission.requests);
  if (admission.tokens) put("tokens", *admission.tokens);
}

// The charge of routing to `route`, for the admission's downgrade alternative; nullopt when
// the target cannot take this request (e.g. its allowance does not fit the plan).
std::optional<limits::Charge> downgraded_charge(const std::optional<routing::Route>& route, api::Endpoint endpoint,
                                                const api::RequestFields& fields, const config::Limits& limits) {
  if (!route) return std::nullopt;
  const auto plan = limits::plan_charge(endpoint, fields, *route->model, limits);
  if (!plan) return std::nullopt;
  return plan->charge;
}

// Records what the request used and settles its reservation with exactly that.
void account(RequestContext& ctx, limits::Reservation& reservation, const config::Model& model, Tokens input,
             Tokens output, bool from_provider) {
  ctx.log.input_tokens = input;
  ctx.log.output_tokens = output;
  ctx.log.token_source = from_provider ? "provider" : "counted";
  ctx.log.cost = cost_of(input, model.input_price) + cost_of(output, model.output_price);
  reservation.settle(limits::Settlement{input, output, ctx.log.cost});
}

// What a request still waiting on its provider learns when the gateway stops it.
Failure shutdown_failure() {
  return fail(Error::shutting_down, "The gateway is shutting down; retry the request.");
}

// GET /v1/usage's body for `tenant` from what the store keeps.
std::string usage_report(const config::Tenant& tenant, const limits::TenantUsage& usage) {
  const auto window = [](const limits::WindowUsage& w, const std::optional<NanoUsd>& limit) {
    return api::UsageWindow{w.start, w.resets_at, w.requests, w.input, w.output, w.spent, limit};
  };
  return api::usage_report_json(tenant.name, tenant.plan, window(usage.daily, tenant.limits.budget_daily),
                                window(usage.monthly, tenant.limits.budget_monthly), tenant.limits);
}

// The refusal for an admission that was not admitted.
http::Response refusal(const limits::Admission& admission, RequestContext& ctx) {
  api::ErrorResponse error;
  Failure failure{Error::limits_unavailable, "The limits store is unavailable; try again shortly.", {}};
  if (admission.verdict == limits::Verdict::rate_limited) {
    failure = fail(Error::rate_limited, "Rate limit reached for " + admission.limit_name +
                                            ". Retry after " + std::to_string(admission.retry_after.count()) +
                                            "s.");
    error = api::to_error_response(failure);
  } else if (admission.verdict == limits::Verdict::budget_exceeded && admission.budget) {
    const auto& b = *admission.budget;
    failure = fail(Error::budget_exceeded, "This request's worst-case cost does not fit the remaining " +
                                               std::string(limits::window_name(b.window)) + " budget.");
    error = api::to_error_response(failure, api::BudgetDetails{b.limit, b.spent, limits::window_name(b.window),
                                                               b.resets_at});
  } else {
    error = api::to_error_response(failure);
  }
  ctx.log.error_code = error_name(failure.code);
  ctx.rejected = admission.verdict == limits::Verdict::rate_limited ? rate_limit_reason(admission.limit_name)
                                                                    : rejection_reason(failure.code);
  auto response = make_response(error.status, "application/json", std::move(error.body), ctx);
  if (admission.verdict == limits::Verdict::rate_limited) {
    response.set(bhttp::field::retry_after,
                 api::retry_after_value(std::chrono::duration_cast<std::chrono::milliseconds>(admission.retry_after)));
    set_rate_limit_headers(response, admission);
  }
  return response;
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const config::Config> config, upstream::Client& upstream,
                 limits::StoreGuard& limits, usage::Sink& sink, AccessLog& access_log, metrics::Shard& metrics,
                 std::size_t worker, const Clock& clock)
    : config_(std::move(config)),
      upstream_(upstream),
      limits_(limits),
      sink_(sink),
      access_log_(access_log),
      metrics_(metrics),
      worker_(worker),
      clock_(clock) {}

void Gateway::stop_in_flight() {
  stopping_ = true;
  upstream_.abort_all();
}

asio::awaitable<void> Gateway::handle(http::Request request, http::ResponseWriter& out) {
  RequestContext ctx;
  ctx.id = next_request_id();
  ctx.started = std::chrono::steady_clock::now();
  ctx.config = config_;
  ctx.sink = &sink_;
  ctx.access_log = &access_log_;
  ctx.worker = worker_;
  ctx.metrics = &metrics_;
  ctx.log.request_id = ctx.id;
  const std::string path(http::path_of(request.target()));
  ctx.log.route = path;

  // 1. Route table: which endpoint.
  const auto endpoint = match_endpoint(request.method(), path);
  if (!endpoint) co_return co_await send_failure(out, ctx, endpoint.error());

  // 2. Authenticate before looking at the body: unauthenticated clients learn nothing.
  const auto principal = auth::authenticate(
      ctx.config->policy, auth::extract_key(http::header(request, "authorization"), http::header(request, "x-api-key")),
      clock_.now());
  if (!principal) co_return co_await send_failure(out, ctx, principal.error());
  const config::Tenant& tenant = *principal->tenant;
  ctx.log.tenant = tenant.name;
  ctx.log.key_name = principal->key->name;
  ctx.log.key_prefix = principal->key->prefix;

  if (*endpoint == Endpoint::models) {
    const auto models = routing::visible_models(*ctx.config, tenant);
    co_return co_await send(out, ctx, make_response(200, "application/json", api::models_list_json(models), ctx));
  }
  if (*endpoint == Endpoint::usage) {
    // The calling tenant's own figures only, read from the limits store.
    const auto usage = co_await limits_.usage(tenant.name);
    if (!usage) co_return co_await send_failure(out, ctx, usage.error());
    co_return co_await send(out, ctx, make_response(200, "application/json", usage_report(tenant, *usage), ctx));
  }

  // 3. Parse the few body fields we need (the body itself is forwarded as bytes).
  const auto fields = api::extract_fields(api_endpoint(*endpoint), request.body());
  if (!fields) co_return co_await send_failure(out, ctx, fields.error());
  ctx.log.model_requested = fields->model;
  ctx.log.stream = fields->stream;

  // 4. Route: public model name -> model, provider, downgrade.
  auto route = routing::resolve(*ctx.config, tenant, fields->model);
  if (!route) co_return co_await send_failure(out, ctx, route.error());
  ctx.model_label = route->model->name;
  const api::Endpoint api_kind = api_endpoint(*endpoint);

  // 5. Admit: reserve the worst case, the rate-limit share and a slot in one step. Past the
  //    plan's downgrade_at the store takes the downgrade target's charge instead.
  auto plan = limits::plan_charge(api_kind, *fields, *route->model, tenant.limits);
  if (!plan) co_return co_await send_failure(out, ctx, plan.error());
  auto spend_route = routing::spend_downgrade(*ctx.config, tenant, *route);
  // A named request, not a temporary in the co_await expression: GCC 12 mishandles the
  // lifetime of such temporaries in coroutines.
  limits::AdmitRequest admit_request{tenant.name, ctx.id, tenant.limits, plan->charge,
                                     downgraded_charge(spend_route, api_kind, *fields, tenant.limits),
                                     ctx.config->limits.reservation_ttl};
  auto admitted = co_await limits_.admit(std::move(admit_request), ctx.config->limits);
  const limits::Admission& admission = admitted.admission;
  if (admission.verdict != limits::Verdict::admitted) co_return co_await send(out, ctx, refusal(admission, ctx));
  limits::Reservation reservation = std::move(*admitted.reservation);
  ctx.admitted = true;
  ctx.plan = tenant.plan;
  ctx.feature = optional_header(request, "x-tollgate-feature");
  ctx.agent = optional_header(request, "x-tollgate-agent");
  if (fields->user) ctx.end_user = *fields->user;
  if (admission.downgraded && spend_route) {
    *route = std::move(*spend_route);
    plan = limits::plan_charge(api_kind, *fields, *route->model, tenant.limits);
  }
  ctx.log.model = route->model->name;
  ctx.model_label = route->model->name;
  ctx.provider = route->provider->name;

  // 6. Forward upstream: the request, then the response head (first-byte deadline).
  const auto forwarding = std::chrono::steady_clock::now();
  auto exchange = co_await upstream_.send(*route->provider, upstream_path(*endpoint),
                                          forwarded_body(std::move(request.body()), *endpoint, *fields, *route, *plan),
                                          ctx.id);
  ctx.upstream_wait += std::chrono::steady_clock::now() - forwarding;
  if (!exchange) {
    reservation.settle({});  // nothing reached the provider's billing
    ctx.log.outcome = "upstream_error";
    // A named failure, not a `?:` temporary inside the co_await: GCC 12 frees those twice.
    Failure failure = exchange.error();
    if (stopping_) failure = shutdown_failure();
    co_return co_await send_failure(out, ctx, failure);
  }
  const bool success = (*exchange)->status() / 100 == 2;

  // 7a. Streams: relay event by event, counting as they pass; the ending is in-band.
  if (fields->stream && success) {
    auto head = make_response((*exchange)->status(), "text/event-stream", {}, ctx);
    head.set(bhttp::field::cache_control, "no-cache");
    if (route->downgraded_from) head.set("x-tollgate-downgraded-from", *route->downgraded_from);
    set_rate_limit_headers(head, admission);
    ctx.log.status = head.result_int();
    StreamAllowance allowance(co_await asio::this_coro::executor, reservation, *route->model, plan->allowance);
    // The relay runs at the provider's pace: all of it counts as upstream time.
    const auto relaying = std::chrono::steady_clock::now();
    metrics_.stream_opened();
    const auto streamed = co_await relay_stream(
        **exchange, out, std::move(head),
        stream::RelayOptions{.client_wants_usage = fields->include_usage, .budget = &allowance}, fields->prompt_bound,
        &allowance, stopping_);
    metrics_.stream_closed();
    ctx.upstream_wait += std::chrono::steady_clock::now() - relaying;
    ctx.first_token_at = streamed.first_token_at;
    ctx.log.outcome = streamed.outcome;
    account(ctx, reservation, *route->model, streamed.usage.prompt, streamed.usage.completion,
            streamed.usage.from_provider);
    if (streamed.first_token_at) {
      ctx.log.ttft_ms = std::chrono::duration_cast<std::chrono::milliseconds>(*streamed.first_token_at - ctx.started)
                            .count();
    }
    ctx.log.latency_ms = elapsed_ms(ctx);
    finish(ctx);
    co_return;
  }

  // 7b. Whole replies (and a provider's error answer to a stream request).
  const auto reading = std::chrono::steady_clock::now();
  auto reply = co_await (*exchange)->read_all(kMaxReplyBytes);
  ctx.upstream_wait += std::chrono::steady_clock::now() - reading;
  if (!reply) {
    reservation.settle({});
    ctx.log.outcome = "upstream_error";
    Failure failure = reply.error();
    if (stopping_) failure = shutdown_failure();
    co_return co_await send_failure(out, ctx, failure);
  }
  ctx.log.outcome = success ? "completed" : "upstream_error";
  const auto usage = success ? api::extract_usage(*reply) : std::nullopt;
  if (usage) {
    account(ctx, reservation, *route->model, usage->prompt, usage->completion, true);
  } else if (success) {
    // A 2xx without usage: bill the reservation in full (the allowance bounded the reply),
    // never less than the provider may charge.
    account(ctx, reservation, *route->model, fields->prompt_bound, plan->allowance, false);
  } else {
    reservation.settle({});  // the provider's own error: providers do not bill those
  }
  const std::string content_type((*exchange)->content_type().empty() ? "application/json" : (*exchange)->content_type());
  auto response = make_response((*exchange)->status(), content_type, std::move(*reply), ctx);
  if (route->downgraded_from) response.set("x-tollgate-downgraded-from", *route->downgraded_from);
  set_rate_limit_headers(response, admission);
  co_await send(out, ctx, std::move(response));
}

}  // namespace tollgate::gateway
