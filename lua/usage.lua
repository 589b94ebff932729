-- usage: the tenant's current UTC day and month (GET /v1/usage), after reaping expired leases.
-- KEYS: leases, res, bucket:requests, bucket:tokens (common.lua)
-- Returns {day_start_s, day_end_s, requests, input, output, spent,
--          month_start_s, month_end_s, requests, input, output, spent}.

local now_s, now_ms = clock()
local day, month = current_windows(now_s)
reap(now_s, now_ms, day, month)

local d = window_get(day, 'requests', 'input', 'output', 'spent')
local m = window_get(month, 'requests', 'input', 'output', 'spent')
return {day.start, day.stop, d[1], d[2], d[3], d[4], month.start, month.stop, m[1], m[2], m[3], m[4]}
