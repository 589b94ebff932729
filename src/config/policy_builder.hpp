#pragma once
// Config stage: the checks that span tenant files (a plan or tenant defined twice, a tenant's
// plan, one key hash used twice) and the derived tables: merged tenant limits and the key index.
#include "diagnostics.hpp"
#include "policy_draft.hpp"
#include "tollgate/config/config.hpp"

namespace tollgate::config::detail {

// Reports problems to `diags`; the returned Policy is only meaningful when none were found.
Policy build_policy(PolicyDraft draft, Diagnostics& diags);

}  // namespace tollgate::config::detail
