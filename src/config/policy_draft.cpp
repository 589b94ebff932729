#include "policy_draft.hpp"

namespace tollgate::config::detail {

void LimitsPatch::apply_to(Limits& limits) const {
  if (requests_per_minute) limits.requests_per_minute = requests_per_minute;
  if (requests_per_day) limits.requests_per_day = requests_per_day;
  if (tokens_per_minute) limits.tokens_per_minute = tokens_per_minute;
  if (max_tokens_per_request) limits.max_tokens_per_request = max_tokens_per_request;
  if (max_concurrent) limits.max_concurrent = max_concurrent;
  if (budget_daily) limits.budget_daily = budget_daily;
  if (budget_monthly) limits.budget_monthly = budget_monthly;
  if (soft_alert_at) limits.soft_alert_at = *soft_alert_at;
  if (downgrade_at) limits.downgrade_at = downgrade_at;
}

}  // namespace tollgate::config::detail
