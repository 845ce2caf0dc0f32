-- Ops: cancels a job that has not started.
-- KEYS[1] ready, KEYS[2] scheduled, KEYS[3] retry, KEYS[4] cancelled
-- ARGV[1] base, ARGV[2] id, ARGV[3] now, ARGV[4] retention ms
-- Returns { 'ok', previous state } or { 'refused', state } or { 'missing', '' }.
local base, id, now, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local jk = base .. ':job:' .. id
local f = redis.call('HMGET', jk, 's', 'i')
local s = f[1]
if not s then
  -- A timer still waiting compactly becomes a full job, only to be kept,
  -- cancelled, for its retention like any other.
  local member, score = find_timer(KEYS[2], id)
  if member then
    redis.call('ZREM', KEYS[2], member)
    expand_timer(base, member, score, 'scheduled', now)
    f = redis.call('HMGET', jk, 's', 'i')
    s = f[1]
  end
end
if not s then return { 'missing', '' } end
if s == 'scheduled' then
  redis.call('ZREM', KEYS[2], id)
elseif s == 'retrying' then
  redis.call('ZREM', KEYS[3], id)
elseif s == 'ready' then
  -- O(ready) but ops-only; fetch also skips ids whose job is not ready.
  redis.call('LREM', KEYS[1], 1, id)
else
  return { 'refused', s }
end
redis.call('HSET', jk, 's', 'cancelled', 'u', now, 'f', now, 'l', 'cancelled by ops')
redis.call('ZADD', KEYS[4], now, id)
redis.call('PEXPIRE', jk, ttl)
redis.call('PEXPIRE', base .. ':errors:' .. id, ttl)
if f[2] and f[2] ~= '' then redis.call('PEXPIRE', base .. ':idem:' .. f[2], ttl) end
return { 'ok', s }
