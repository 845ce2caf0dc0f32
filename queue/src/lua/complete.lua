-- Applies a batch of attempt outcomes reported by one worker. An outcome for a
-- lease the worker no longer holds (it expired and the job moved on) is
-- ignored: the later holder's outcome is the one that counts.
-- KEYS[1] ready, KEYS[2] retry, KEYS[3] leases, KEYS[4] done, KEYS[5] dead
-- ARGV[1] base, ARGV[2] now, ARGV[3] worker, ARGV[4] succeeded retention ms,
-- ARGV[5] dead retention ms, then per outcome 6 values:
--   id, attempt, lease, code (s = succeeded, r = retry, d = dead, x = released), retry at, error
-- Returns the number of outcomes applied.
--
-- A success is the hot path, so it touches three fields and no TTL: the hash
-- says `succeeded` and when; `o` keeps the last owner (readers show an owner
-- only for a running job); the job's retention is the `done` index, which
-- `purge.lua` trims and deletes from in batches.
local base = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local worker = ARGV[3]
local ok_ttl = tonumber(ARGV[4])
local dead_ttl = tonumber(ARGV[5])
local applied = 0
local released = false
local leases = {}

-- A dead job keeps its hash, its errors and its idempotency key for the
-- dead retention.
local function keep_for(jk, ek, ttl)
  redis.call('PEXPIRE', jk, ttl)
  redis.call('PEXPIRE', ek, ttl)
  local idem = redis.call('HGET', jk, 'i')
  if idem and idem ~= '' then redis.call('PEXPIRE', base .. ':idem:' .. idem, ttl) end
end
local done = {}

for i = 6, #ARGV, 6 do
  local id, attempt, lease, code, at, err = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local jk = base .. ':job:' .. id
  local f = redis.call('HMGET', jk, 's', 'q', 'o')
  if f[1] == 'running' and f[2] == lease and f[3] == worker then
    applied = applied + 1
    leases[#leases + 1] = id
    local ek = base .. ':errors:' .. id
    if code == 's' then
      if ok_ttl > 0 then
        redis.call('HSET', jk, 's', 'succeeded', 'f', now)
        done[#done + 1] = now
        done[#done + 1] = id
      else
        local idem = redis.call('HGET', jk, 'i')
        redis.call('DEL', jk, ek)
        if idem and idem ~= '' then redis.call('DEL', base .. ':idem:' .. idem) end
      end
    elseif code == 'r' then
      redis.call('RPUSH', ek, cjson.encode({attempt = tonumber(attempt), at = now, worker = worker, error = err}))
      redis.call('HSET', jk, 's', 'retrying', 'u', now, 'r', at, 'l', err, 'o', '')
      redis.call('ZADD', KEYS[2], at, id)
    elseif code == 'd' then
      redis.call('RPUSH', ek, cjson.encode({attempt = tonumber(attempt), at = now, worker = worker, error = err}))
      redis.call('HSET', jk, 's', 'dead', 'u', now, 'f', now, 'l', err, 'o', '')
      redis.call('ZADD', KEYS[5], now, id)
      keep_for(jk, ek, dead_ttl)
    else
      redis.call('HSET', jk, 's', 'ready', 'a', tonumber(attempt) - 1, 'u', now, 'o', '')
      redis.call('LPUSH', KEYS[1], id)
      released = true
    end
  end
end
if #leases > 0 then redis.call('ZREM', KEYS[3], unpack(leases)) end
if #done > 0 then redis.call('ZADD', KEYS[4], unpack(done)) end
if released then redis.call('PUBLISH', base .. ':wake', '1') end
return applied
