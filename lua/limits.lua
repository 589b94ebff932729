-- limits: the settles and admits of one tenant, in the order they were asked for, each with
-- the answer it would get alone; one run serves a whole batch (src/limits/script_batches.hpp).
-- It reads and writes each key once (common.lua's window_load and bucket_load), so N calls
-- cost little more than one.
--
-- admit: reserves everything one request needs in one atomic step, or nothing.
-- settle: replaces a live reservation by what the request used, in the windows it belongs to;
--   refunds unused tokens to the tokens bucket; frees the slot; raises each budget's soft alert
--   at most once per window (the window's 'alerted' field: one settle of one gateway wins).
--
-- KEYS: leases, res, bucket:requests, bucket:tokens (common.lua)
-- ARGV: the calls one after the other, each its kind and then its values ('' = absent):
--   'a', request_id, reservation_ttl_ms, tokens, cost, downgraded_tokens, downgraded_cost,
--        requests_per_minute, requests_per_day, tokens_per_minute, max_concurrent,
--        budget_daily, budget_monthly, downgrade_at
--   's', request_id, input_tokens, output_tokens, cost, tokens_per_minute, budget_daily,
--        budget_monthly, soft_alert_at
-- Returns one array per call, in order:
--   admit: {0, downgraded (0/1)} for an admission without a bucket to report, else
--          {verdict (0 admitted, 1 rate_limited, 2 budget_exceeded), downgraded (0/1),
--           rpm_limit (-1 = none), rpm_remaining, rpm_reset_ms,
--           tpm_limit (-1 = none), tpm_remaining, tpm_reset_ms,
--           retry_after_s, limit_name,
--           budget_window (0 daily, 1 monthly), budget_limit, budget_spent, budget_resets_at_s}
--   settle: {settled (0/1), then per alert: window (0 daily, 1 monthly), spent, window_start_s}

local ADMIT_VALUES, SETTLE_VALUES = 13, 8

-- The calls: where each one's values start in ARGV (bases), whether it is an admit, and every
-- request id. Plain arrays, not a table per call: this runs for every call of every batch.
local bases, admits, ids = {}, {}, {}
do
  local at, n = 1, #ARGV
  while at <= n do
    local k = #bases + 1
    local admit = ARGV[at] == 'a'
    bases[k], admits[k], ids[k] = at, admit, ARGV[at + 1]
    if admit then at = at + 1 + ADMIT_VALUES else at = at + 1 + SETTLE_VALUES end
  end
end

local now_s, now_ms = clock()
local day, month = current_windows(now_s)
local no_lease_left = reap_leases(now_s, now_ms)
local windows = {}  -- key -> loaded window
local function window_of(w)
  local loaded = windows[w.key]
  if not loaded then
    loaded = window_load(w, {'requests', 'spent', 'reserved', 'input', 'output', 'alerted'})
    windows[w.key] = loaded
  end
  return loaded
end
local d, m = window_of(day), window_of(month)
-- A reservation's windows by their start (the calendar arithmetic once per window, not per call).
local days, months = {[day.start] = d}, {[month.start] = m}
local function windows_of(rec)
  local dw, mw = days[rec.day], months[rec.month]
  if not dw then
    dw = window_of(day_window(rec.day))
    days[rec.day] = dw
  end
  if not mw then
    mw = window_of(month_window(rec.month))
    months[rec.month] = mw
  end
  return dw, mw
end
if no_lease_left then
  -- Reservations whose lease keys expired unreaped (common.lua's reap): charged in full.
  redis.call('DEL', RES)
  for _, w in ipairs({d, m}) do
    local stale = w.v.reserved
    if stale > 0 then
      window_add(w, 'reserved', -stale)
      window_add(w, 'spent', stale)
    end
  end
end

-- Each id's live reservation (in both leases and res) before this batch, as far as the batch
-- has not changed it since.
-- Only the ids with a record are looked up in leases: a new admission's id has neither, and a
-- lookup that misses scans all of a small sorted set.
local records = redis.call('HMGET', RES, unpack(ids))
local live = {}  -- id -> record, or false once settled here
local raw_of, with_record = {}, {}
for i, id in ipairs(ids) do
  if live[id] == nil then
    live[id] = false
    if records[i] then
      raw_of[id] = records[i]
      with_record[#with_record + 1] = id
    end
  end
end
if #with_record > 0 then
  local scores = redis.call('ZMSCORE', LEASES, unpack(with_record))
  for i, id in ipairs(with_record) do
    if scores[i] then live[id] = record_decode(raw_of[id]) or false end
  end
end

local requests_bucket, tokens_bucket  -- read when a call first needs them
local leases_before, leases_delta = nil, 0  -- ZCARD when first needed; the batch's net change
local zrem, hdel = {}, {}
-- Reservations this batch made, written at the end unless a later call of the batch settled
-- them: id -> {expiry digits, expiry, record}, and the ids in admission order.
local fresh, fresh_ids = {}, {}
local expiry_text = {}  -- expiry (ms) -> its digits
local windows_text = ' ' .. int(day.start) .. ' ' .. int(month.start)

-- An admit's answer (see the header). Top-level functions rather than closures inside admit
-- and settle: a closure is an allocation per call.
local function admit_answer(verdict, downgraded, retry_after, limit_name, budget, rpm, rpm_level, tpm, tpm_level)
  local dg = 0
  if downgraded then dg = 1 end
  if verdict == 0 and not rpm and not tpm then return {0, dg} end  -- nothing more to say
  local out = {verdict, dg, -1, 0, 0, -1, 0, 0, retry_after, limit_name, 0, 0, 0, 0}
  if rpm then
    out[3], out[4], out[5] = rpm, math.max(0, math.floor(rpm_level)), bucket_reset_ms(rpm, rpm_level)
  end
  if tpm then
    out[6], out[7], out[8] = tpm, math.max(0, math.floor(tpm_level)), bucket_reset_ms(tpm, tpm_level)
  end
  if budget then out[11], out[12], out[13], out[14] = budget[1], budget[2], budget[3], budget[4] end
  return out
end

-- The longer of two refusals (seconds, limit name): the longest Retry-After wins.
local function longer(seconds, name, than_seconds, than_name)
  if seconds > than_seconds then return seconds, name end
  return than_seconds, than_name
end

local function admit(base)
  local id = ARGV[base + 1]
  local ttl_ms = opt(ARGV[base + 2])
  local tokens_arg, cost_arg = ARGV[base + 3], ARGV[base + 4]
  local tokens, cost = opt(tokens_arg), opt(cost_arg)
  local dg_tokens, dg_cost = opt(ARGV[base + 5]), opt(ARGV[base + 6])
  local rpm, rpd, tpm, max_concurrent = opt(ARGV[base + 7]), opt(ARGV[base + 8]), opt(ARGV[base + 9]),
                                        opt(ARGV[base + 10])
  local budget_daily, budget_monthly, downgrade_at = opt(ARGV[base + 11]), opt(ARGV[base + 12]),
                                                     opt(ARGV[base + 13])

  local rpm_level, tpm_level = 0, 0
  if rpm then
    requests_bucket = requests_bucket or bucket_load(REQUESTS)
    rpm_level = bucket_at(requests_bucket, rpm, now_ms)
  end
  if tpm then
    tokens_bucket = tokens_bucket or bucket_load(TOKENS)
    tpm_level = bucket_at(tokens_bucket, tpm, now_ms)
  end

  -- Idempotent: a live reservation with this id was admitted already; take nothing more.
  if live[id] then return admit_answer(0, live[id].downgraded, 0, '', nil, rpm, rpm_level, tpm, tpm_level) end

  local day_used, month_used = d.v.spent + d.v.reserved, m.v.spent + m.v.reserved

  -- Downgrade on spend: decided on the state before this request.
  local downgraded = false
  if dg_tokens and dg_cost and downgrade_at then
    if (budget_daily and day_used >= downgrade_at * budget_daily) or
       (budget_monthly and month_used >= downgrade_at * budget_monthly) then
      tokens, cost, downgraded = dg_tokens, dg_cost, true
      tokens_arg, cost_arg = ARGV[base + 5], ARGV[base + 6]
    end
  end

  -- Budgets first (402 before 429); daily when both are short.
  if budget_daily and day_used + cost > budget_daily then
    return admit_answer(2, downgraded, 0, '', {0, budget_daily, day_used, day.stop}, rpm, rpm_level, tpm, tpm_level)
  end
  if budget_monthly and month_used + cost > budget_monthly then
    return admit_answer(2, downgraded, 0, '', {1, budget_monthly, month_used, month.stop}, rpm, rpm_level, tpm,
                        tpm_level)
  end

  -- Rate limits: the longest Retry-After wins.
  local retry_after, limit_name = 0, ''
  if rpm and rpm_level < 1 then
    retry_after, limit_name = longer(retry_seconds(1 - rpm_level, rpm), 'requests_per_minute', retry_after, limit_name)
  end
  if rpd and d.v.requests >= rpd then
    retry_after, limit_name = longer(math.max(1, day.stop - now_s), 'requests_per_day', retry_after, limit_name)
  end
  if tpm then
    if tokens > tpm then
      retry_after, limit_name = longer(60, 'tokens_per_minute', retry_after, limit_name)
    elseif tpm_level < tokens then
      retry_after, limit_name = longer(retry_seconds(tokens - tpm_level, tpm), 'tokens_per_minute', retry_after, limit_name)
    end
  end
  if max_concurrent then
    leases_before = leases_before or redis.call('ZCARD', LEASES)
    if leases_before + leases_delta >= max_concurrent then
      retry_after, limit_name = longer(1, 'max_concurrent', retry_after, limit_name)
    end
  end
  if limit_name ~= '' then
    return admit_answer(1, downgraded, retry_after, limit_name, nil, rpm, rpm_level, tpm, tpm_level)
  end

  -- Everything fits: take it all.
  if rpm then
    rpm_level = rpm_level - 1
    bucket_set(requests_bucket, rpm, rpm_level, now_ms)
  end
  if tpm then
    tpm_level = tpm_level - tokens
    bucket_set(tokens_bucket, tpm, tpm_level, now_ms)
  end
  window_add(d, 'requests', 1)
  window_add(d, 'reserved', cost)
  window_add(m, 'requests', 1)
  window_add(m, 'reserved', cost)
  local expires = now_ms + ttl_ms
  expiry_text[expires] = expiry_text[expires] or int(expires)
  -- record_encode's format, from the arguments' own digits (the gateway sends plain integers).
  fresh[id] = {expiry_text[expires], expires, tokens_arg .. ' ' .. cost_arg .. windows_text .. (downgraded and ' 1' or ' 0')}
  fresh_ids[#fresh_ids + 1] = id
  live[id] = {tokens = tokens, cost = cost, day = day.start, month = month.start, downgraded = downgraded}
  leases_delta = leases_delta + 1
  return admit_answer(0, downgraded, 0, '', nil, rpm, rpm_level, tpm, tpm_level)
end

-- The window's settled spend against a budget: out gets (code, spent, window start) the first
-- time it reaches soft_alert_at of the limit in that window.
local function settle_alert(out, w, code, limit, soft_alert_at)
  if not limit or not soft_alert_at or w.stop + WINDOW_GRACE_S <= now_s then return end
  if w.v.alerted == 0 and w.v.spent >= soft_alert_at * limit then
    w.v.alerted = 1
    w.dirty.alerted = true
    out[#out + 1] = code
    out[#out + 1] = w.v.spent
    out[#out + 1] = w.start
  end
end

-- A settle's usage in one of its reservation's windows.
local function settle_window(w, rec, cost, input, output)
  window_add(w, 'reserved', -rec.cost)
  window_add(w, 'spent', cost)
  window_add(w, 'input', input)
  window_add(w, 'output', output)
end

local function settle(base)
  local id = ARGV[base + 1]
  local input, output, cost = opt(ARGV[base + 2]), opt(ARGV[base + 3]), opt(ARGV[base + 4])
  local tpm = opt(ARGV[base + 5])
  local budget_daily, budget_monthly, soft_alert_at = opt(ARGV[base + 6]), opt(ARGV[base + 7]), opt(ARGV[base + 8])

  hdel[#hdel + 1] = id  -- a stray record without its lease goes too
  local rec = live[id]
  if not rec then return {0} end
  live[id] = false
  if fresh[id] then
    fresh[id] = nil  -- made by this batch: it never reaches Redis
  else
    zrem[#zrem + 1] = id
  end
  leases_delta = leases_delta - 1

  local dw, mw = windows_of(rec)
  settle_window(dw, rec, cost, input, output)
  settle_window(mw, rec, cost, input, output)

  if tpm then
    tokens_bucket = tokens_bucket or bucket_load(TOKENS)
    local level = bucket_at(tokens_bucket, tpm, now_ms) + (rec.tokens - (input + output))
    if level > tpm then level = tpm end
    bucket_set(tokens_bucket, tpm, level, now_ms)
  end

  local out = {1}
  settle_alert(out, dw, 0, budget_daily, soft_alert_at)
  settle_alert(out, mw, 1, budget_monthly, soft_alert_at)
  return out
end

local answers = {}
for i, base in ipairs(bases) do
  if admits[i] then answers[i] = admit(base) else answers[i] = settle(base) end
end

for _, w in pairs(windows) do window_save(w, now_s) end
bucket_save(requests_bucket)
bucket_save(tokens_bucket)
if #hdel > 0 then redis.call('HDEL', RES, unpack(hdel)) end
if #zrem > 0 then redis.call('ZREM', LEASES, unpack(zrem)) end
-- Then the batch's reservations still live (after the removals: a settle followed by an admit of
-- the same id leaves the new one).
local zadd, res, latest_expiry = {}, {}, 0
for _, id in ipairs(fresh_ids) do
  local f = fresh[id]
  if f then
    fresh[id] = nil  -- an id admitted twice in the batch (settled in between) is written once
    zadd[#zadd + 1] = f[1]
    zadd[#zadd + 1] = id
    res[#res + 1] = id
    res[#res + 1] = f[3]
    if f[2] > latest_expiry then latest_expiry = f[2] end
  end
end
if #zadd > 0 then
  redis.call('ZADD', LEASES, unpack(zadd))
  redis.call('HSET', RES, unpack(res))
  keep_leases(latest_expiry, now_ms)
end
return answers
