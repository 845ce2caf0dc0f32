-- Applies a batch of attempt outcomes reported by one worker. An outcome for a
-- lease the worker no longer holds (it expired and the job moved on) is
-- ignored: the later holder's outcome is the one that counts.
-- KEYS[1] ready, KEYS[2] retry, KEYS[3] leases, KEYS[4] done, KEYS[5] dead
-- ARGV[1] base, ARGV[2] now, ARGV[3] worker, ARGV[4] succeeded retention ms,
-- ARGV[5] dead retention ms, then per outcome 6 values:
--   id, attempt, lease, code (s = succeeded, r = retry, d = dead, x = released), retry at, error
-- Returns the number of outcomes applied.
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker = ARGV[3]
local ok_ttl = tonumber(ARGV[4])
local dead_ttl = tonumber(ARGV[5])
local applied = 0
local released = false
local leases = {}

-- The errors list exists only if an attempt failed (then `l` is set), so
-- a job that succeeded first time costs one PEXPIRE, not two.
local function keep_for(jk, ek, idem, had_errors, ttl)
  redis.call('PEXPIRE', jk, ttl)
  if had_errors then redis.call('PEXPIRE', ek, ttl) end
  if idem and idem ~= '' then redis.call('PEXPIRE', base .. ':idem:' .. idem, ttl) end
end
local done = {}

for i = 6, #ARGV, 6 do
  local id, attempt, lease, code, at, err = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local jk = base .. ':job:' .. id
  local f = redis.call('HMGET', jk, 's', 'q', 'o', 'i', 'l')
  local had_errors = f[5] and f[5] ~= ''
  if f[1] == 'running' and f[2] == lease and f[3] == worker then
    applied = applied + 1
    leases[#leases + 1] = id
    local ek = base .. ':errors:' .. id
    if code == 's' then
      if ok_ttl > 0 then
        redis.call('HSET', jk, 's', 'succeeded', 'u', now, 'f', now, 'o', '', 'e', '')
        done[#done + 1] = now
        done[#done + 1] = id
        keep_for(jk, ek, f[4], had_errors, ok_ttl)
      else
        redis.call('DEL', jk, ek)
        if f[4] and f[4] ~= '' then redis.call('DEL', base .. ':idem:' .. f[4]) end
      end
    elseif code == 'r' then
      redis.call('RPUSH', ek, cjson.encode({attempt = tonumber(attempt), at = now, worker = worker, error = err}))
      redis.call('HSET', jk, 's', 'retrying', 'u', now, 'r', at, 'l', err, 'o', '', 'e', '')
      redis.call('ZADD', KEYS[2], at, id)
    elseif code == 'd' then
      redis.call('RPUSH', ek, cjson.encode({attempt = tonumber(attempt), at = now, worker = worker, error = err}))
      redis.call('HSET', jk, 's', 'dead', 'u', now, 'f', now, 'l', err, 'o', '', 'e', '')
      redis.call('ZADD', KEYS[5], now, id)
      keep_for(jk, ek, f[4], true, dead_ttl)
    else
      redis.call('HSET', jk, 's', 'ready', 'a', tonumber(attempt) - 1, 'u', now, 'o', '', 'e', '')
      redis.call('LPUSH', KEYS[1], id)
      released = true
    end
  end
end
if #leases > 0 then redis.call('ZREM', KEYS[3], unpack(leases)) end
if #done > 0 then redis.call('ZADD', KEYS[4], unpack(done)) end
if released then redis.call('PUBLISH', base .. ':wake', '1') end
return applied
