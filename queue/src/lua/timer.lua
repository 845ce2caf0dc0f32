-- Shared by the scripts that meet compact timers (prepended to them).
--
-- A compact timer is one member of the scheduled zset, scored by its due
-- time:
--   R kind \31 max_attempts \31 idempotency key \31 payload
-- where R is 16 base-32 digits: the first 80 bits of SHA-1(key). \31 is the
-- ASCII unit separator; kind and key never hold it and the payload, last,
-- may hold anything. A job id (a 26-digit ULID) never holds it, so one zset
-- keeps both kinds of member apart.
--
-- The timer's id is the ULID whose time part is the due time (the score)
-- and whose random part is R: derived, never stored. The member is a
-- function of the job alone (no enqueue time), so a repeated enqueue finds
-- it with one ZSCORE; and members of one score sort by R, so `find_timer`
-- finds one by id in O(log n) even when thousands share a due time.

local CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'

-- The 10 time digits of a ULID for `ms` (an integer below 2^48).
local function time_digits(ms)
  local out = {}
  local t = ms
  for i = 10, 1, -1 do
    local d = t % 32
    out[i] = string.sub(CROCKFORD, d + 1, d + 1)
    t = (t - d) / 32
  end
  return table.concat(out)
end

-- R for an idempotency key. 20 hex digits = 80 bits, taken 20 bits (four
-- base-32 digits) at a time so every step stays exact in Lua's doubles.
local function key_digits(key)
  local h = redis.sha1hex(key)
  local out = {}
  for g = 0, 3 do
    local v = tonumber(string.sub(h, g * 5 + 1, g * 5 + 5), 16)
    for i = 4, 1, -1 do
      local d = v % 32
      out[g * 4 + i] = string.sub(CROCKFORD, d + 1, d + 1)
      v = (v - d) / 32
    end
  end
  return table.concat(out)
end

local function is_timer(member)
  return string.find(member, '\31', 1, true) ~= nil
end

-- Returns kind, max, key, payload.
local function parse_timer(member)
  local fields = {}
  local from = 17
  for _ = 1, 3 do
    local at = string.find(member, '\31', from, true)
    fields[#fields + 1] = string.sub(member, from, at - 1)
    from = at + 1
  end
  return fields[1], fields[2], fields[3], string.sub(member, from)
end

-- Byte order, whatever the server's collation locale.
local function before(a, b)
  for i = 1, 16 do
    local x, y = string.byte(a, i) or 0, string.byte(b, i) or 0
    if x ~= y then return x < y end
  end
  return false
end

-- The compact member of timer `id` in zset `zkey`, and its score, or nil.
local function find_timer(zkey, id)
  if string.len(id) ~= 26 then return nil end
  local t = 0
  for i = 1, 10 do
    local d = string.find(CROCKFORD, string.sub(id, i, i), 1, true)
    if not d then return nil end
    t = t * 32 + (d - 1)
  end
  local score = string.format('%d', t)
  local r = string.sub(id, 11)
  -- Members of one score sit at ranks [lo, hi), in byte order.
  local lo = redis.call('ZCOUNT', zkey, '-inf', '(' .. score)
  local hi = redis.call('ZCOUNT', zkey, '-inf', score)
  local top = hi
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if before(redis.call('ZRANGE', zkey, mid, mid)[1], r) then lo = mid + 1 else hi = mid end
  end
  -- A job id may share the 16 digits by chance: look a little further.
  for rank = lo, math.min(lo + 8, top - 1) do
    local m = redis.call('ZRANGE', zkey, rank, rank)[1]
    if string.sub(m, 1, 16) ~= r then return nil end
    if is_timer(m) then return m, score end
  end
  return nil
end

-- Makes a compact timer a full job hash in state `state`; returns its id, or
-- nil when a job with that id exists already (the same key armed twice with
-- different arguments, against the contract: the first one stands). Its
-- enqueue time is unknown, so `c` is 0.
local function expand_timer(base, member, score, state, now)
  local kind, max, key, payload = parse_timer(member)
  local id = time_digits(tonumber(score)) .. string.sub(member, 1, 16)
  local jk = base .. ':job:' .. id
  if redis.call('EXISTS', jk) == 1 then return nil end
  redis.call('HSET', jk, 's', state, 'q', 0, 'o', '', 'a', 0, 'f', '',
    'm', max, 'k', kind, 'c', 0, 'r', score, 'u', now, 'i', key, 'd', 0, 'p', payload)
  return id
end

