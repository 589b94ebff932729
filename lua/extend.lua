-- extend: adds to a live reservation's cost if every budget still fits it, and renews its
-- lease. The budgets are those of the windows the reservation belongs to.
-- KEYS: leases, res, bucket:requests, bucket:tokens (common.lua)
-- ARGV: request_id, more (nano-USD), reservation_ttl_ms, budget_daily, budget_monthly ('' = absent)
-- Returns 1 (extended) or 0 (does not fit, or no such live reservation).

local id = ARGV[1]
local more = tonumber(ARGV[2])
local ttl_ms = tonumber(ARGV[3])
local budget_daily, budget_monthly = opt(ARGV[4]), opt(ARGV[5])

if more < 0 then return 0 end

local now_s, now_ms = clock()
local day, month = current_windows(now_s)
reap(now_s, now_ms, day, month)

local rec = live_record(id)
if not rec then return 0 end
local dw, mw = day_window(rec.day), month_window(rec.month)
if budget_daily then
  local v = window_get(dw, 'spent', 'reserved')
  if v[1] + v[2] + more > budget_daily then return 0 end
end
if budget_monthly then
  local v = window_get(mw, 'spent', 'reserved')
  if v[1] + v[2] + more > budget_monthly then return 0 end
end

window_incr(dw, now_s, {'reserved', more})
window_incr(mw, now_s, {'reserved', more})
rec.cost = rec.cost + more
local expires = now_ms + ttl_ms
redis.call('ZADD', LEASES, int(expires), id)
redis.call('HSET', RES, id, record_encode(rec))
keep_leases(expires, now_ms)
return 1
