-- Extends the leases a live worker holds.
-- KEYS[1] leases. ARGV[1] base, ARGV[2] lease length (ms), ARGV[3] worker,
-- then pairs of id, lease. Returns the ids whose lease the worker has lost.
local base = ARGV[1]
local t = redis.call('TIME')
local expires = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
local worker = ARGV[3]
local lost = {}
for i = 4, #ARGV, 2 do
  local id, lease = ARGV[i], ARGV[i + 1]
  local jk = base .. ':job:' .. id
  local f = redis.call('HMGET', jk, 's', 'q', 'o')
  if f[1] == 'running' and f[2] == lease and f[3] == worker then
    redis.call('ZADD', KEYS[1], 'XX', expires, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
