-- admit: reserves everything one request needs in one atomic step, or nothing.
-- KEYS: leases, res, bucket:requests, bucket:tokens (common.lua)
-- ARGV: request_id, reservation_ttl_ms, tokens, cost, downgraded_tokens, downgraded_cost,
--       requests_per_minute, requests_per_day, tokens_per_minute, max_concurrent,
--       budget_daily, budget_monthly, downgrade_at        ('' = absent)
-- Returns {verdict (0 admitted, 1 rate_limited, 2 budget_exceeded), downgraded (0/1),
--          rpm_limit (-1 = none), rpm_remaining, rpm_reset_ms,
--          tpm_limit (-1 = none), tpm_remaining, tpm_reset_ms,
--          retry_after_s, limit_name,
--          budget_window (0 daily, 1 monthly), budget_limit, budget_spent, budget_resets_at_s}

local id = ARGV[1]
local ttl_ms = tonumber(ARGV[2])
local tokens, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
local dg_tokens, dg_cost = opt(ARGV[5]), opt(ARGV[6])
local rpm, rpd, tpm, max_concurrent = opt(ARGV[7]), opt(ARGV[8]), opt(ARGV[9]), opt(ARGV[10])
local budget_daily, budget_monthly, downgrade_at = opt(ARGV[11]), opt(ARGV[12]), opt(ARGV[13])

local now_s, now_ms = clock()
local day, month = current_windows(now_s)
reap(now_s, now_ms, day, month)

local rpm_level, tpm_level = 0, 0
if rpm then rpm_level = bucket_level(REQUESTS, rpm, now_ms) end
if tpm then tpm_level = bucket_level(TOKENS, tpm, now_ms) end

local function answer(verdict, downgraded, retry_after, limit_name, budget)
  local out = {verdict, 0, -1, 0, 0, -1, 0, 0, retry_after, limit_name, 0, 0, 0, 0}
  if downgraded then out[2] = 1 end
  if rpm then
    out[3], out[4], out[5] = rpm, math.max(0, math.floor(rpm_level)), bucket_reset_ms(rpm, rpm_level)
  end
  if tpm then
    out[6], out[7], out[8] = tpm, math.max(0, math.floor(tpm_level)), bucket_reset_ms(tpm, tpm_level)
  end
  if budget then out[11], out[12], out[13], out[14] = budget[1], budget[2], budget[3], budget[4] end
  return out
end

-- Idempotent: a live reservation with this id was admitted already; take nothing more.
local existing = live_record(id)
if existing then return answer(0, existing.downgraded, 0, '') end

local d = window_get(day, 'requests', 'spent', 'reserved')
local m = window_get(month, 'spent', 'reserved')
local day_used, month_used = d[2] + d[3], m[1] + m[2]

-- Downgrade on spend: decided on the state before this request.
local downgraded = false
if dg_tokens and dg_cost and downgrade_at then
  if (budget_daily and day_used >= downgrade_at * budget_daily) or
     (budget_monthly and month_used >= downgrade_at * budget_monthly) then
    tokens, cost, downgraded = dg_tokens, dg_cost, true
  end
end

-- Budgets first (402 before 429); daily when both are short.
if budget_daily and day_used + cost > budget_daily then
  return answer(2, downgraded, 0, '', {0, budget_daily, day_used, day.stop})
end
if budget_monthly and month_used + cost > budget_monthly then
  return answer(2, downgraded, 0, '', {1, budget_monthly, month_used, month.stop})
end

-- Rate limits: the longest Retry-After wins.
local retry_after, limit_name = 0, ''
local function refuse(seconds, name)
  if seconds > retry_after then retry_after, limit_name = seconds, name end
end
if rpm and rpm_level < 1 then refuse(retry_seconds(1 - rpm_level, rpm), 'requests_per_minute') end
if rpd and d[1] >= rpd then refuse(math.max(1, day.stop - now_s), 'requests_per_day') end
if tpm then
  if tokens > tpm then
    refuse(60, 'tokens_per_minute')
  elseif tpm_level < tokens then
    refuse(retry_seconds(tokens - tpm_level, tpm), 'tokens_per_minute')
  end
end
if max_concurrent and redis.call('ZCARD', LEASES) >= max_concurrent then refuse(1, 'max_concurrent') end
if limit_name ~= '' then return answer(1, downgraded, retry_after, limit_name) end

-- Everything fits: take it all.
if rpm then
  rpm_level = rpm_level - 1
  bucket_store(REQUESTS, rpm, rpm_level, now_ms)
end
if tpm then
  tpm_level = tpm_level - tokens
  bucket_store(TOKENS, tpm, tpm_level, now_ms)
end
window_incr(day, now_s, {'requests', 1, 'reserved', cost})
window_incr(month, now_s, {'requests', 1, 'reserved', cost})
local expires = now_ms + ttl_ms
redis.call('ZADD', LEASES, int(expires), id)
redis.call('HSET', RES, id, record_encode({tokens = tokens, cost = cost, day = day.start, month = month.start,
                                           downgraded = downgraded}))
keep_leases(expires, now_ms)
return answer(0, downgraded, 0, '')
