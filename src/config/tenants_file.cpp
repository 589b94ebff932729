#include "tenants_file.hpp"

#include <algorithm>

namespace tollgate::config::detail {
namespace {

LimitsPatch read_limits_patch(const Fields& f) {
  LimitsPatch p;
  p.requests_per_minute = f.positive_int("requests_per_minute");
  p.requests_per_day = f.positive_int("requests_per_day");
  p.tokens_per_minute = f.positive_int("tokens_per_minute");
  p.max_tokens_per_request = f.positive_int("max_tokens_per_request");
  p.max_concurrent = f.positive_int("max_concurrent");
  if (auto budget = f.entry("budget_usd")) {
    Fields b(f.ctx(), *budget, f.path("budget_usd"), {"daily", "monthly"});
    p.budget_daily = b.usd("daily");
    p.budget_monthly = b.usd("monthly");
  }
  p.soft_alert_at = f.fraction("soft_alert_at");
  p.downgrade_at = f.fraction("downgrade_at");
  return p;
}

// A model name that must be one the gateway file defines; nullopt (reported) otherwise.
std::optional<std::string> read_model_name(const FileContext& ctx, const YAML::Node& node, const YAML::Mark& at,
                                           const std::string& path, const std::set<std::string>& model_names) {
  auto name = read_string(ctx, node, path, at);
  if (name && model_names.count(*name) == 0) {
    ctx.error(at, path + ": unknown model " + in_quotes(*name));
    return std::nullopt;
  }
  return name;
}

void read_plan(const FileContext& ctx, const Entry& entry, const std::set<std::string>& model_names,
               PolicyDraft& draft) {
  Fields f(ctx, entry, child_path("plans", entry.key),
           {"requests_per_minute", "requests_per_day", "tokens_per_minute", "max_tokens_per_request",
            "max_concurrent", "budget_usd", "soft_alert_at", "downgrade_at", "models", "downgrade"});
  PlanDraft d;
  d.plan.name = entry.key;
  d.origin = Origin{ctx.file, entry.key_node.Mark()};
  read_limits_patch(f).apply_to(d.plan.limits);

  if (auto models = f.find("models")) {
    d.plan.models.emplace();
    for (const YAML::Node& item : list_items(ctx, *models, f.path("models"))) {
      if (auto name = read_model_name(ctx, item, item.Mark(), f.path("models"), model_names)) d.plan.models->insert(*name);
    }
  }
  if (auto downgrade = f.find("downgrade")) {
    const std::string path = f.path("downgrade");
    for (const Entry& e : named_entries(ctx, *downgrade, path)) {
      if (model_names.count(e.key) == 0) {
        ctx.error(e.key_node.Mark(), path + ": unknown model " + in_quotes(e.key));
        continue;
      }
      auto target = read_model_name(ctx, e.value, value_mark(e), child_path(path, e.key), model_names);
      if (!target) continue;
      // Downgrading into a model the plan forbids would just trade one refusal for another.
      if (d.plan.models && d.plan.models->count(*target) == 0) {
        ctx.error(e.value.Mark(), child_path(path, e.key) + ": " + in_quotes(*target) + " is not allowed by " +
                                      f.path("models"));
        continue;
      }
      d.plan.downgrade[e.key] = *target;
    }
  }
  draft.plans.push_back(std::move(d));
}

std::optional<KeyDraft> read_key(const FileContext& ctx, const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) {
    ctx.error(node.Mark(), path + ": expected a mapping, got " + describe(node));
    return std::nullopt;
  }
  Fields f(ctx, node, path, {"name", "prefix", "sha256", "status", "expires"});
  KeyDraft k;
  k.path = path;
  f.require("name");
  f.require("prefix");
  f.require("sha256");
  if (auto v = f.string("name")) {
    k.key.name = *v;
    k.name_mark = f.mark("name");
  }
  if (auto v = f.string("prefix")) {
    if (is_key_prefix(*v)) {
      k.key.prefix = *v;
    } else {
      ctx.error(f.mark("prefix"), f.path("prefix") + ": expected \"tg_\" followed by 8 letters or digits, got " +
                                              in_quotes(*v));
    }
  }
  if (auto sha = f.find("sha256")) {
    // The hash is not a secret, but it is never echoed either: the length says enough.
    k.sha256_origin = Origin{ctx.file, f.mark("sha256")};
    if (auto text = read_string(ctx, *sha, f.path("sha256"), f.mark("sha256"))) {
      auto parsed = parse_sha256_hex(*text);
      if (parsed.value) {
        k.key.sha256 = *parsed.value;
        k.hash_valid = true;
      } else {
        ctx.error(f.mark("sha256"), f.path("sha256") + ": " + parsed.error);
      }
    }
  }
  if (auto v = f.choice<bool>("status", {{"active", false}, {"revoked", true}})) k.key.revoked = *v;
  if (auto v = f.string("expires")) {
    k.key.expires = parse_date(*v);
    if (!k.key.expires) {
      ctx.error(f.mark("expires"), f.path("expires") + ": expected a calendar date YYYY-MM-DD, got " + in_quotes(*v));
    }
  }
  return k;
}

void read_tenant(const FileContext& ctx, const Entry& entry, PolicyDraft& draft) {
  const std::string path = child_path("tenants", entry.key);
  Fields f(ctx, entry, path, {"plan", "status", "overrides", "keys"});
  TenantDraft d;
  d.tenant.name = entry.key;
  d.origin = Origin{ctx.file, entry.key_node.Mark()};
  f.require("plan");
  if (auto v = f.string("plan")) {
    d.plan = *v;
    d.plan_origin = Origin{ctx.file, f.mark("plan")};
  }
  if (auto v = f.choice<bool>("status", {{"active", false}, {"suspended", true}})) d.tenant.suspended = *v;
  if (auto overrides = f.entry("overrides")) {
    Fields o(ctx, *overrides, f.path("overrides"),
             {"requests_per_minute", "requests_per_day", "tokens_per_minute", "max_tokens_per_request",
              "max_concurrent", "budget_usd", "soft_alert_at", "downgrade_at"});
    d.overrides = read_limits_patch(o);
  }
  if (auto keys = f.find("keys")) {
    const auto items = list_items(ctx, *keys, f.path("keys"));
    for (std::size_t i = 0; i < items.size(); ++i) {
      const std::string key_path = index_path(f.path("keys"), i);
      auto k = read_key(ctx, items[i], key_path);
      if (!k) continue;
      if (!k->key.name.empty()) {
        auto same = std::find_if(d.keys.begin(), d.keys.end(),
                                 [&](const KeyDraft& other) { return other.key.name == k->key.name; });
        if (same != d.keys.end()) {
          ctx.error(k->name_mark, key_path + ".name: duplicate key name " + in_quotes(k->key.name) +
                                          " in tenant " + in_quotes(entry.key));
        }
      }
      d.keys.push_back(std::move(*k));
    }
  }
  draft.tenants.push_back(std::move(d));
}

}  // namespace

void read_tenants_file(const FileContext& ctx, const YAML::Node& root, const std::set<std::string>& model_names,
                       PolicyDraft& draft) {
  Fields top(ctx, root, "", {"plans", "tenants"});
  if (auto plans = top.find("plans")) {
    for (const Entry& e : named_entries(ctx, *plans, "plans")) read_plan(ctx, e, model_names, draft);
  }
  if (auto tenants = top.find("tenants")) {
    for (const Entry& e : named_entries(ctx, *tenants, "tenants")) read_tenant(ctx, e, draft);
  }
}

}  // namespace tollgate::config::detail
