#pragma once
// Config stage: plans and tenants as read from the tenant files, before the cross-file checks
// (duplicates, plan references, key hash collisions) turn them into a Policy. Each definition
// keeps where it came from so those checks can point at it.
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/mark.h>

#include "tollgate/config/config.hpp"

namespace tollgate::config::detail {

// Limit values given in a plan or in a tenant's overrides; absent ones leave the base alone.
struct LimitsPatch {
  std::optional<std::int64_t> requests_per_minute;
  std::optional<std::int64_t> requests_per_day;
  std::optional<std::int64_t> tokens_per_minute;
  std::optional<std::int64_t> max_tokens_per_request;
  std::optional<std::int64_t> max_concurrent;
  std::optional<NanoUsd> budget_daily;
  std::optional<NanoUsd> budget_monthly;
  std::optional<double> soft_alert_at;
  std::optional<double> downgrade_at;

  void apply_to(Limits& limits) const;
};

struct Origin {
  std::string file;
  YAML::Mark mark;
};

struct PlanDraft {
  Plan plan;  // limits already patched over the defaults
  Origin origin;
};

struct KeyDraft {
  Key key;
  std::string path;  // "tenants.acme.keys[0]", for messages
  YAML::Mark name_mark;
  bool hash_valid = false;  // false when sha256 was missing or malformed (already reported)
  Origin sha256_origin;
};

struct TenantDraft {
  Tenant tenant;  // name, status; limits/models/downgrade are filled in from the plan later
  std::vector<KeyDraft> keys;
  LimitsPatch overrides;
  std::optional<std::string> plan;  // nullopt when missing or malformed (already reported)
  Origin origin;
  Origin plan_origin;
};

struct PolicyDraft {
  std::vector<PlanDraft> plans;
  std::vector<TenantDraft> tenants;
};

}  // namespace tollgate::config::detail
