-- Adds a batch of jobs in one round trip.
-- KEYS[1] ready list, KEYS[2] scheduled zset
-- ARGV[1] key base, ARGV[2] now (ms), then per job 6 values:
--   id, kind, payload, run_at (ms), max_attempts, idempotency key ('' = none)
-- Returns a flat list: id, duplicate flag (1/0) per job, in input order.
local base = ARGV[1]
local now = tonumber(ARGV[2])
local out = {}
local added = false
for i = 3, #ARGV, 6 do
  local id, kind, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local run_at, max, idem = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
  local dup = nil
  if idem ~= '' then
    local ikey = base .. ':idem:' .. idem
    local existing = redis.call('GET', ikey)
    if existing and redis.call('EXISTS', base .. ':job:' .. existing) == 1 then
      dup = existing
    else
      redis.call('SET', ikey, id)
    end
  end
  -- A re-sent id (a client retrying after a timeout) is the same job, never
  -- a reset of it.
  if not dup and redis.call('EXISTS', base .. ':job:' .. id) == 1 then
    dup = id
  end
  if dup then
    out[#out + 1] = dup
    out[#out + 1] = 1
  else
    local state = 'ready'
    if run_at > now then state = 'scheduled' end
    redis.call('HSET', base .. ':job:' .. id, 'k', kind, 'p', payload, 's', state, 'a', 0,
      'm', max, 'c', now, 'r', run_at, 'u', now, 'i', idem, 'd', 0)
    if state == 'ready' then
      redis.call('RPUSH', KEYS[1], id)
    else
      redis.call('ZADD', KEYS[2], run_at, id)
    end
    added = true
    out[#out + 1] = id
    out[#out + 1] = 0
  end
end
if added then redis.call('PUBLISH', base .. ':wake', '1') end
return out
