-- Adds a batch of jobs in one round trip.
-- KEYS[1] ready list, KEYS[2] scheduled zset
-- ARGV[1] key base, ARGV[2] now (ms), then per job 7 values:
--   id, kind, payload, run_at (ms), max_attempts, idempotency key ('' = none),
--   timer flag ('1': keep compactly, see timer.lua; the caller checked that
--   the key is set, kind and key hold no \31 and run_at fits a ULID)
-- Returns a flat list: id, duplicate flag (1/0) per job, in input order.
local base = ARGV[1]
local now = tonumber(ARGV[2])
local out = {}
local added = false

-- The job holding idempotency key `idem` in the full layout, if any.
local function keyed(idem)
  if idem == '' then return nil end
  local existing = redis.call('GET', base .. ':idem:' .. idem)
  if existing and redis.call('EXISTS', base .. ':job:' .. existing) == 1 then
    return existing
  end
  return nil
end

for i = 3, #ARGV, 7 do
  local id, kind, payload = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local run_at, max, idem = tonumber(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5]
  local dup = nil
  if ARGV[i + 6] == '1' then
    -- A timer: its id is derived, so a promoted, finished or cancelled one
    -- is found by id, a waiting one by its member.
    local r = key_digits(idem)
    id = time_digits(run_at) .. r
    local member = r .. kind .. '\31' .. max .. '\31' .. idem .. '\31' .. payload
    if redis.call('EXISTS', base .. ':job:' .. id) == 1 then
      dup = id
    else
      dup = keyed(idem)
    end
    if not dup and redis.call('ZSCORE', KEYS[2], member) then
      dup = id
    end
    if not dup then
      if run_at > now then
        redis.call('ZADD', KEYS[2], run_at, member)
      else
        -- Already due: no reason to wait compactly.
        redis.call('HSET', base .. ':job:' .. id, 's', 'ready', 'q', 0, 'o', '', 'a', 0, 'f', '',
          'm', max, 'k', kind, 'c', now, 'r', run_at, 'u', now, 'i', idem, 'd', 0, 'p', payload)
        redis.call('RPUSH', KEYS[1], id)
      end
    end
  else
    dup = keyed(idem)
    if not dup and idem ~= '' then
      redis.call('SET', base .. ':idem:' .. idem, id)
    end
    -- A re-sent id (a client retrying after a timeout) is the same job, never
    -- a reset of it.
    if not dup and redis.call('EXISTS', base .. ':job:' .. id) == 1 then
      dup = id
    end
    if not dup then
      local state = 'ready'
      if run_at > now then state = 'scheduled' end
      -- Field order is a cost: a small hash is a listpack searched front to
      -- back, so the fields every fetch and ack touch come first and the
      -- payload last (`timer.lua`'s `expand_timer` keeps the same order).
      redis.call('HSET', base .. ':job:' .. id, 's', state, 'q', 0, 'o', '', 'a', 0, 'f', '',
        'm', max, 'k', kind, 'c', now, 'r', run_at, 'u', now, 'i', idem, 'd', 0, 'p', payload)
      if state == 'ready' then
        redis.call('RPUSH', KEYS[1], id)
      else
        redis.call('ZADD', KEYS[2], run_at, id)
      end
    end
  end
  if dup then
    out[#out + 1] = dup
    out[#out + 1] = 1
  else
    added = true
    out[#out + 1] = id
    out[#out + 1] = 0
  end
end
if added then redis.call('PUBLISH', base .. ':wake', '1') end
return out
