// The request path, top to bottom. Each stage lives in its own module; this file only
// orders them and turns their failures into responses (through api::to_error_response).
#include <chrono>
#include <optional>

#include "access_log.hpp"
#include "endpoints.hpp"
#include "tollgate/api/body_patch.hpp"
#include "tollgate/api/error_response.hpp"
#include "tollgate/api/models_list.hpp"
#include "tollgate/api/request_fields.hpp"
#include "tollgate/api/usage_fields.hpp"
#include "tollgate/auth/authenticate.hpp"
#include "tollgate/core/request_id.hpp"
#include "tollgate/gateway/gateway.hpp"
#include "tollgate/routing/resolve.hpp"

namespace tollgate::gateway {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

// Per-request state; lives in the handle() coroutine frame.
struct RequestContext {
  std::string id;
  std::chrono::steady_clock::time_point started;
  std::shared_ptr<const config::Config> config;  // the snapshot this request uses throughout
  AccessRecord log;
};

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
  write_access_log(ctx.log);
}

asio::awaitable<void> send_failure(http::ResponseWriter& out, RequestContext& ctx, const Failure& failure) {
  auto error = api::to_error_response(failure);
  ctx.log.error_code = error_name(failure.code);
  co_await send(out, ctx, make_response(error.status, "application/json", std::move(error.body), ctx));
}

// The body sent upstream: the client's bytes, with `model` rewritten only when the provider
// knows the model by another name or the plan downgraded it (SPEC section 4).
std::string forwarded_body(std::string body, const api::RequestFields& fields, const routing::Route& route) {
  if (route.model->upstream_model == fields.model) return body;
  return api::replace_span(body, fields.model_token, api::json_string(route.model->upstream_model));
}

}  // namespace

Gateway::Gateway(std::shared_ptr<const config::Config> config, upstream::Client& upstream, const Clock& clock)
    : config_(std::move(config)), upstream_(upstream), clock_(clock) {}

asio::awaitable<void> Gateway::handle(http::Request request, http::ResponseWriter& out) {
  RequestContext ctx{next_request_id(), std::chrono::steady_clock::now(), config_, {}};
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

  // 3. Parse the few body fields we need (the body itself is forwarded as bytes).
  const auto fields = api::extract_fields(api_endpoint(*endpoint), request.body());
  if (!fields) co_return co_await send_failure(out, ctx, fields.error());
  ctx.log.model_requested = fields->model;
  if (fields->stream) {
    co_return co_await send_failure(
        out, ctx, fail(Error::invalid_request, "Streaming is not supported by this gateway yet.", "stream"));
  }

  // 4. Route: public model name -> model, provider, downgrade.
  const auto route = routing::resolve(*ctx.config, tenant, fields->model);
  if (!route) co_return co_await send_failure(out, ctx, route.error());
  ctx.log.model = route->model->name;

  // 5. Forward upstream and wait for the whole reply.
  auto reply = co_await upstream_.post(*route->provider, upstream_path(*endpoint),
                                       forwarded_body(std::move(request.body()), *fields, *route), ctx.id);
  if (!reply) co_return co_await send_failure(out, ctx, reply.error());

  // 6. Account: tokens from the provider's usage, cost from the model's prices.
  if (reply->status / 100 == 2) {
    if (const auto usage = api::extract_usage(reply->body)) {
      ctx.log.input_tokens = usage->prompt;
      ctx.log.output_tokens = usage->completion;
      ctx.log.cost = cost_of(usage->prompt, route->model->input_price) +
                     cost_of(usage->completion, route->model->output_price);
    }
  }

  // 7. Respond: the provider's status and body, with our headers.
  auto response = make_response(reply->status, reply->content_type.empty() ? "application/json" : reply->content_type,
                                std::move(reply->body), ctx);
  if (route->downgraded_from) response.set("x-tollgate-downgraded-from", *route->downgraded_from);
  co_await send(out, ctx, std::move(response));
}

}  // namespace tollgate::gateway
