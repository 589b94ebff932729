-- Shared part of the limits scripts (limits, extend, usage): the build prepends this
-- file to each of them (lua/embed.cmake), because Redis runs every script on its own.
-- The semantics are the contract in include/tollgate/limits/store.hpp; LocalStore implements
-- the same in C++.
--
-- Key layout, for tenant T. Every key carries the hash tag {T}, so a Redis Cluster keeps all
-- of a tenant's keys in one slot, and every key has a TTL:
--   tg:{T}:leases           ZSET  request id -> lease expiry (ms)     TTL: latest expiry + 60 s
--   tg:{T}:res              HASH  request id -> "tokens cost day_start month_start downgraded"
--                                                                    (same TTL as leases)
--   tg:{T}:bucket:requests  HASH  level (double), ts (ms)            TTL: until full + 60 s
--   tg:{T}:bucket:tokens    HASH  level, ts                          TTL: until full + 60 s
--   tg:{T}:day:YYYY-MM-DD   HASH  requests input output spent reserved alerted
--                                                                    TTL: day end + 1 day
--   tg:{T}:month:YYYY-MM    HASH  same fields                        TTL: month end + 1 day
-- KEYS[1..4] are leases, res, bucket:requests and bucket:tokens; the window keys depend on
-- Redis's clock, so the script derives them from the same prefix (same hash tag, same slot).
-- A reservation is live while it is both in leases and in res.
--
-- Needs Redis 6.2 or later (ZMSCORE).
-- Time is Redis's TIME, never the gateway's clock (Redis 7 replicates script effects).
-- Numbers: Lua numbers are doubles. Money (integer nano-USD) and token counts are stored as
-- whole numbers (HINCRBY, or HSET of a sum computed here) and are exact below 2^53, that is
-- up to about 9 million USD per window. Bucket levels are doubles stored with 17 digits, so they
-- read back exactly.

local LEASE_GRACE_MS = 60000
local BUCKET_GRACE_MS = 60000
local WINDOW_GRACE_S = 86400

local LEASES, RES, REQUESTS, TOKENS = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local PREFIX = ''
if LEASES then PREFIX = string.sub(LEASES, 1, -string.len('leases') - 1) end

-- A whole number as Redis wants it in a command argument (never "1e+15").
local function int(x)
  return string.format('%d', x)
end

-- An optional numeric argument: '' means absent (no such limit). Memoised per run: the
-- requests of a batch mostly carry the same limits, and tonumber is a strtod.
local parsed = {}
local function opt(v)
  if v == nil or v == '' then return nil end
  local x = parsed[v]
  if x == nil then
    x = tonumber(v)
    parsed[v] = x
  end
  return x
end

-- Redis's clock: whole seconds and milliseconds since the Unix epoch.
local function clock()
  local t = redis.call('TIME')
  local s = tonumber(t[1])
  return s, s * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Days since 1970-01-01 <-> proleptic Gregorian (y, m, d), UTC. Howard Hinnant's
-- days_from_civil / civil_from_days, since Redis's Lua has no os.date.
local function civil_from_days(z)
  z = z + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp + 3
  if mp >= 10 then m = mp - 9 end
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = m - 3
  if m <= 2 then mp = m + 9 end
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- A calendar window: {start = s, stop = s (exclusive), key = ...}.
local function day_window(start_s)
  local y, m, d = civil_from_days(math.floor(start_s / 86400))
  return {start = start_s, stop = start_s + 86400, key = PREFIX .. string.format('day:%04d-%02d-%02d', y, m, d)}
end

local function month_window(start_s)
  local y, m = civil_from_days(math.floor(start_s / 86400))
  local ny, nm = y, m + 1
  if nm == 13 then ny, nm = y + 1, 1 end
  return {start = start_s, stop = days_from_civil(ny, nm, 1) * 86400,
          key = PREFIX .. string.format('month:%04d-%02d', y, m)}
end

-- The UTC day and month containing now_s.
local function current_windows(now_s)
  local day = math.floor(now_s / 86400)
  local y, m = civil_from_days(day)
  return day_window(day * 86400), month_window(days_from_civil(y, m, 1) * 86400)
end

-- Adds deltas ({field, delta, field, delta, ...}) to a window's integer fields and keeps its
-- TTL. A window past its grace is gone for good: nothing is written (and nothing resurrects
-- it without a TTL).
local function window_incr(w, now_s, deltas)
  local expire_at = w.stop + WINDOW_GRACE_S
  if expire_at <= now_s then return end
  for i = 1, #deltas, 2 do
    if deltas[i + 1] ~= 0 then redis.call('HINCRBY', w.key, deltas[i], int(deltas[i + 1])) end
  end
  redis.call('EXPIREAT', w.key, int(expire_at))
end

-- The named fields of a window as numbers (0 when absent).
local function window_get(w, ...)
  local values = redis.call('HMGET', w.key, ...)
  for i = 1, select('#', ...) do values[i] = tonumber(values[i]) or 0 end
  return values
end

-- Milliseconds until a bucket at `level` is full again.
local function bucket_reset_ms(capacity, level)
  if capacity <= 0 then return 0 end
  return math.ceil((capacity - level) / (capacity / 60000))
end

-- Stores a bucket touched at now_ms. Once full it may expire: a missing bucket is full.
local function bucket_store(key, capacity, level, now_ms)
  redis.call('HSET', key, 'level', string.format('%.17g', level), 'ts', int(now_ms))
  redis.call('PEXPIRE', key, int(bucket_reset_ms(capacity, level) + BUCKET_GRACE_MS))
end

-- Whole seconds until `shortfall` more units have refilled, at least 1.
local function retry_seconds(shortfall, capacity)
  if capacity <= 0 then return 60 end
  local s = math.ceil(shortfall / (capacity / 60000) / 1000)
  if s < 1 then s = 1 end
  return s
end

local function record_encode(r)
  local downgraded = '0'
  if r.downgraded then downgraded = '1' end
  return int(r.tokens) .. ' ' .. int(r.cost) .. ' ' .. int(r.day) .. ' ' .. int(r.month) .. ' ' .. downgraded
end

local function record_decode(raw)
  if not raw then return nil end
  local t, c, d, m, g = string.match(raw, '^(%-?%d+) (%-?%d+) (%-?%d+) (%-?%d+) ([01])$')
  if not t then return nil end
  return {tokens = tonumber(t), cost = tonumber(c), day = tonumber(d), month = tonumber(m), downgraded = g == '1'}
end

-- The live reservation `id`, or nil.
local function live_record(id)
  if not redis.call('ZSCORE', LEASES, id) then return nil end
  return record_decode(redis.call('HGET', RES, id))
end

-- Keeps leases and res (always together) alive until a lease expiring at until_ms is reaped.
local function keep_leases(until_ms, now_ms)
  local want = until_ms + LEASE_GRACE_MS - now_ms
  for _, key in ipairs({LEASES, RES}) do
    if redis.call('PTTL', key) < want then redis.call('PEXPIRE', key, int(want)) end
  end
end

-- Charges every expired lease in full (its reserved cost becomes spent in its windows, its
-- slot is freed). Returns true when the tenant has no lease left at all. One call when no
-- lease has expired, the common case.
local function reap_leases(now_s, now_ms)
  local first = redis.call('ZRANGE', LEASES, 0, 0, 'WITHSCORES')
  if #first == 0 then return true end
  if tonumber(first[2]) > now_ms then return false end
  local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', int(now_ms))
  for _, id in ipairs(expired) do
    local rec = record_decode(redis.call('HGET', RES, id))
    if rec then
      window_incr(day_window(rec.day), now_s, {'reserved', -rec.cost, 'spent', rec.cost})
      window_incr(month_window(rec.month), now_s, {'reserved', -rec.cost, 'spent', rec.cost})
    end
    redis.call('HDEL', RES, id)
  end
  redis.call('ZREMRANGEBYSCORE', LEASES, '-inf', int(now_ms))
  return redis.call('ZCARD', LEASES) == 0
end

-- reap_leases, then: when no lease is left at all, whatever the current windows still hold as
-- reserved belongs to leases whose keys expired before anyone reaped them (the tenant was
-- idle past their grace): that is charged in full too.
local function reap(now_s, now_ms, day, month)
  if not reap_leases(now_s, now_ms) then return end
  redis.call('DEL', RES)
  for _, w in ipairs({day, month}) do
    local reserved = tonumber(redis.call('HGET', w.key, 'reserved')) or 0
    if reserved > 0 then window_incr(w, now_s, {'reserved', -reserved, 'spent', reserved}) end
  end
end

-- The batch script (limits.lua) reads each window and bucket it touches once, changes it in
-- memory call by call, and writes it once: two calls per key however many requests.

-- A window with the named fields loaded: w.v[field] (0 when absent).
local function window_load(w, fields)
  local values = redis.call('HMGET', w.key, unpack(fields))
  w.v, w.dirty = {}, {}
  for i, f in ipairs(fields) do w.v[f] = tonumber(values[i]) or 0 end
  return w
end

local function window_add(w, field, delta)
  if delta == 0 then return end
  w.v[field] = w.v[field] + delta
  w.dirty[field] = true
end

-- Writes a loaded window's changed fields. A window past its grace is gone for good: nothing
-- is written. The TTL is set whenever the write added a field, so a key never exists without
-- one (every write that creates a window adds fields).
local function window_save(w, now_s)
  local expire_at = w.stop + WINDOW_GRACE_S
  if expire_at <= now_s then return end
  local args = {}
  for f in pairs(w.dirty) do
    args[#args + 1] = f
    args[#args + 1] = int(w.v[f])
  end
  if #args == 0 then return end
  if redis.call('HSET', w.key, unpack(args)) > 0 then redis.call('EXPIREAT', w.key, int(expire_at)) end
end

-- A bucket read once: b.level and b.ts as stored (nil when missing: full).
local function bucket_load(key)
  local v = redis.call('HMGET', key, 'level', 'ts')
  return {key = key, level = tonumber(v[1]), ts = tonumber(v[2])}
end

-- A loaded bucket's level at now_ms: capacity = the per-minute limit, refilled continuously at
-- capacity / 60000 per ms, full when it does not exist.
local function bucket_at(b, capacity, now_ms)
  if b.level == nil or b.ts == nil then return capacity end
  local elapsed = now_ms - b.ts
  if elapsed < 0 then elapsed = 0 end  -- TIME stepped back (failover to another host)
  local level = b.level + elapsed * (capacity / 60000)
  if level > capacity then level = capacity end
  return level
end

local function bucket_set(b, capacity, level, now_ms)
  b.level, b.ts, b.capacity, b.dirty = level, now_ms, capacity, true
end

local function bucket_save(b)
  if b and b.dirty then bucket_store(b.key, b.capacity, b.level, b.ts) end
end
