-- settle: replaces a live reservation by what the request used, in the windows it belongs
-- to; refunds unused tokens to the tokens bucket; frees the slot; raises each budget's soft
-- alert at most once per window (HSETNX: one settle of one gateway wins).
-- KEYS: leases, res, bucket:requests, bucket:tokens (common.lua)
-- ARGV: request_id, input_tokens, output_tokens, cost, tokens_per_minute, budget_daily,
--       budget_monthly, soft_alert_at ('' = absent)
-- Returns {settled (0/1), then per alert: window (0 daily, 1 monthly), spent, window_start_s}.

local id = ARGV[1]
local input, output, cost = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tpm = opt(ARGV[5])
local budget_daily, budget_monthly, soft_alert_at = opt(ARGV[6]), opt(ARGV[7]), opt(ARGV[8])

local now_s, now_ms = clock()
local rec = live_record(id)
if not rec then
  redis.call('HDEL', RES, id)  -- a stray record without its lease
  return {0}
end

local dw, mw = day_window(rec.day), month_window(rec.month)
local deltas = {'reserved', -rec.cost, 'spent', cost, 'input', input, 'output', output}
window_incr(dw, now_s, deltas)
window_incr(mw, now_s, deltas)

if tpm then
  local level = bucket_level(TOKENS, tpm, now_ms) + (rec.tokens - (input + output))
  if level > tpm then level = tpm end
  bucket_store(TOKENS, tpm, level, now_ms)
end

redis.call('ZREM', LEASES, id)
redis.call('HDEL', RES, id)

local out = {1}
local function alert(w, code, limit)
  if not limit or not soft_alert_at or w.stop + WINDOW_GRACE_S <= now_s then return end
  local spent = tonumber(redis.call('HGET', w.key, 'spent')) or 0
  if spent >= soft_alert_at * limit and redis.call('HSETNX', w.key, 'alerted', '1') == 1 then
    redis.call('EXPIREAT', w.key, int(w.stop + WINDOW_GRACE_S))
    table.insert(out, code)
    table.insert(out, spent)
    table.insert(out, w.start)
  end
end
alert(dw, 0, budget_daily)
alert(mw, 1, budget_monthly)
return out
