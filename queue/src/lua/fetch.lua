-- Leases up to ARGV[3] ready jobs to one worker, after re-delivering expired
-- leases and promoting due scheduled/retrying jobs, each bounded by ARGV[6] so
-- that no call does work proportional to the backlog.
-- KEYS[1] ready, KEYS[2] scheduled, KEYS[3] retry, KEYS[4] leases, KEYS[5] dead
-- ARGV[1] base, ARGV[2] (unused: the server's clock is used), ARGV[3] max,
-- ARGV[4] lease ms, ARGV[5] worker, ARGV[6] chunk, ARGV[7] dead retention ms,
-- ARGV[8] the leases index's sentinel member (see below)
-- Returns { {id, kind, payload, attempt, max_attempts, lease, ...}, next_due or '' }
--
-- Time comes from Redis itself: lease deadlines are compared by one clock,
-- so a worker host whose clock runs fast cannot steal live leases.
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local max = tonumber(ARGV[3])
local lease_ms = tonumber(ARGV[4])
local worker = ARGV[5]
local chunk = tonumber(ARGV[6])
local dead_ttl = tonumber(ARGV[7])
local sentinel = ARGV[8]

-- 1. Re-deliver jobs whose worker stopped renewing their lease.
local expired = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, chunk)
if #expired > 0 then
  redis.call('ZREM', KEYS[4], unpack(expired))
  for _, id in ipairs(expired) do
    local jk = base .. ':job:' .. id
    local f = redis.call('HMGET', jk, 'a', 'm', 'o', 's', 'i')
    if f[4] == 'running' then
      local attempts = tonumber(f[1]) or 0
      local owner = f[3] or ''
      local err = 'lease expired: worker ' .. owner .. ' stopped renewing it (killed or stalled); re-delivered'
      local ek = base .. ':errors:' .. id
      redis.call('RPUSH', ek, cjson.encode({attempt = attempts, at = now, worker = owner, error = err}))
      if attempts >= (tonumber(f[2]) or 1) then
        err = 'lease expired on the last attempt: worker ' .. owner .. ' stopped renewing it'
        redis.call('HSET', jk, 's', 'dead', 'u', now, 'f', now, 'l', err, 'o', '')
        redis.call('ZADD', KEYS[5], now, id)
        redis.call('PEXPIRE', jk, dead_ttl)
        redis.call('PEXPIRE', ek, dead_ttl)
        if f[5] and f[5] ~= '' then redis.call('PEXPIRE', base .. ':idem:' .. f[5], dead_ttl) end
      else
        redis.call('HSET', jk, 's', 'ready', 'u', now, 'r', now, 'l', err, 'o', '')
        redis.call('HINCRBY', jk, 'd', 1)
        -- To the front: it has waited once already.
        redis.call('LPUSH', KEYS[1], id)
      end
    end
  end
end

-- 2. Promote due scheduled and retrying jobs. ZRANGEBYSCORE from -inf with a
-- LIMIT returns the lowest ranks, so ZREMRANGEBYRANK removes exactly them.
-- A compact timer (timer.lua) becomes a full job here, on its way to ready.
for z = 2, 3 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[z], '-inf', now, 'WITHSCORES', 'LIMIT', 0, chunk)
  if #due > 0 then
    redis.call('ZREMRANGEBYRANK', KEYS[z], 0, #due / 2 - 1)
    local ready = {}
    for j = 1, #due, 2 do
      local id = due[j]
      if is_timer(id) then
        id = expand_timer(base, id, due[j + 1], 'ready', now)
      else
        redis.call('HSET', base .. ':job:' .. id, 's', 'ready', 'u', now)
      end
      if id then ready[#ready + 1] = id end
    end
    if #ready > 0 then redis.call('RPUSH', KEYS[1], unpack(ready)) end
  end
end

-- 3. Lease.
local out = {}
local ids = redis.call('LPOP', KEYS[1], max)
if ids then
  local expires = now + lease_ms
  local zargs = {}
  for _, id in ipairs(ids) do
    local jk = base .. ':job:' .. id
    local f = redis.call('HMGET', jk, 'k', 'p', 'a', 'm', 's', 'q')
    -- A stale id (its job cancelled or expired meanwhile) is simply dropped.
    if f[5] == 'ready' then
      local attempt = (tonumber(f[3]) or 0) + 1
      local lease = (tonumber(f[6]) or 0) + 1
      -- The lease's expiry lives only in the leases index (its score):
      -- one copy to keep current, and renewals touch no hash.
      redis.call('HSET', jk, 's', 'running', 'a', attempt, 'q', lease, 'o', worker, 'u', now)
      zargs[#zargs + 1] = expires
      zargs[#zargs + 1] = id
      out[#out + 1] = id
      out[#out + 1] = f[1]
      out[#out + 1] = f[2]
      out[#out + 1] = attempt
      out[#out + 1] = f[4]
      out[#out + 1] = lease
    end
  end
  if #zargs > 0 then
    -- A member longer than 64 bytes keeps the index a skiplist: a listpack,
    -- Redis's encoding for a zset of up to 128 short members (a worker at
    -- the default concurrency of 64), costs a scan and a memmove per lease
    -- and per ack. The sentinel never expires (score +inf) and readers skip it.
    redis.call('ZADD', KEYS[4], 'NX', 'inf', sentinel)
    redis.call('ZADD', KEYS[4], unpack(zargs))
  end
end

-- 4. When the next timer comes due, so an idle worker knows how long to sleep.
local next_due = ''
for z = 2, 3 do
  local first = redis.call('ZRANGE', KEYS[z], 0, 0, 'WITHSCORES')
  if first[2] and (next_due == '' or tonumber(first[2]) < tonumber(next_due)) then
    next_due = first[2]
  end
end
return { out, next_due }
