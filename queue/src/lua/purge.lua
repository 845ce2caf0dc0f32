-- Deletes up to ARGV[3] succeeded jobs finished at or before ARGV[2]: their
-- hashes, error lists and idempotency keys, and their `done` entries.
-- KEYS[1] done. ARGV[1] base, ARGV[2] cutoff (ms), ARGV[3] chunk.
-- Returns how many jobs it deleted; the caller repeats while a chunk is full.
--
-- Why here and not a TTL per job: a TTL is a PEXPIRE per success on the hot
-- path (about a tenth of an ack's Redis CPU) and one more expiry for the
-- server to track; one UNLINK per chunk retires the same jobs. Dead and
-- cancelled jobs, rare, still carry their TTLs.
local base = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then return 0 end
local keys = {}
for _, id in ipairs(ids) do
  local jk = base .. ':job:' .. id
  local idem = redis.call('HGET', jk, 'i')
  keys[#keys + 1] = jk
  keys[#keys + 1] = base .. ':errors:' .. id
  -- The key may since belong to a newer job (a plain enqueue takes a key
  -- whose job is gone); only this job's own claim is deleted.
  if idem and idem ~= '' then
    local ik = base .. ':idem:' .. idem
    if redis.call('GET', ik) == id then keys[#keys + 1] = ik end
  end
end
redis.call('UNLINK', unpack(keys))
redis.call('ZREM', KEYS[1], unpack(ids))
return #ids
