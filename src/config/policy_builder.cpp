#include "policy_builder.hpp"

#include <algorithm>
#include <map>

#include "scalars.hpp"

namespace tollgate::config::detail {
namespace {

std::string where(const Origin& o) { return o.file + ":" + std::to_string(std::max(o.mark.line, 0) + 1); }

}  // namespace

Policy build_policy(PolicyDraft draft, Diagnostics& diags) {
  Policy policy;
  std::map<std::string, Origin> plan_origins;
  for (PlanDraft& d : draft.plans) {
    auto [it, inserted] = plan_origins.emplace(d.plan.name, d.origin);
    if (!inserted) {
      diags.error(d.origin.file, d.origin.mark,
                  "duplicate plan " + in_quotes(d.plan.name) + " (first defined at " + where(it->second) + ")");
      continue;
    }
    policy.plans.emplace(d.plan.name, std::move(d.plan));
  }

  std::map<std::string, Origin> tenant_origins;
  struct HashOwner {
    std::string tenant;
    std::string key;
  };
  std::map<std::string, HashOwner> hash_owners;  // also covers tenants dropped as duplicates
  for (TenantDraft& d : draft.tenants) {
    const std::string path = "tenants." + d.tenant.name;
    auto [first, inserted] = tenant_origins.emplace(d.tenant.name, d.origin);
    if (!inserted) {
      diags.error(d.origin.file, d.origin.mark,
                  "duplicate tenant " + in_quotes(d.tenant.name) + " (first defined at " + where(first->second) + ")");
    }
    if (d.plan) {
      auto plan = policy.plans.find(*d.plan);
      if (plan == policy.plans.end()) {
        diags.error(d.plan_origin.file, d.plan_origin.mark, path + ".plan: unknown plan " + in_quotes(*d.plan));
      } else {
        d.tenant.plan = plan->first;
        d.tenant.limits = plan->second.limits;
        d.tenant.models = plan->second.models;
        d.tenant.downgrade = plan->second.downgrade;
      }
    }
    d.overrides.apply_to(d.tenant.limits);

    const std::size_t tenant_index = policy.tenants.size();
    for (std::size_t i = 0; i < d.keys.size(); ++i) {
      const KeyDraft& k = d.keys[i];
      if (!k.hash_valid) continue;
      std::string hash = key_index_key(k.key.sha256);
      auto [owner, fresh] = hash_owners.emplace(hash, HashOwner{d.tenant.name, k.key.name});
      if (!fresh) {
        diags.error(k.sha256_origin.file, k.sha256_origin.mark,
                    k.path + ".sha256: duplicate key hash, also used by tenant " +
                        in_quotes(owner->second.tenant) + " key " + in_quotes(owner->second.key));
        continue;
      }
      if (inserted) policy.key_index.emplace(std::move(hash), KeyRef{tenant_index, d.tenant.keys.size()});
      if (inserted) d.tenant.keys.push_back(k.key);
    }
    if (inserted) policy.tenants.push_back(std::move(d.tenant));
  }
  return policy;
}

}  // namespace tollgate::config::detail
