-- Ops: makes a dead, retrying or cancelled job ready now, attempts reset.
-- KEYS[1] ready, KEYS[2] retry, KEYS[3] dead, KEYS[4] cancelled
-- ARGV[1] base, ARGV[2] id, ARGV[3] now
-- Returns { 'ok', previous state } or { 'refused', state } or { 'missing', '' }.
local base, id, now = ARGV[1], ARGV[2], ARGV[3]
local jk = base .. ':job:' .. id
local f = redis.call('HMGET', jk, 's', 'i')
local s = f[1]
if not s then return { 'missing', '' } end
if s ~= 'dead' and s ~= 'retrying' and s ~= 'cancelled' then return { 'refused', s } end
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('HSET', jk, 's', 'ready', 'a', 0, 'r', now, 'u', now, 'o', '')
redis.call('HDEL', jk, 'f')
redis.call('PERSIST', jk)
redis.call('PERSIST', base .. ':errors:' .. id)
if f[2] and f[2] ~= '' then redis.call('PERSIST', base .. ':idem:' .. f[2]) end
redis.call('RPUSH', KEYS[1], id)
redis.call('PUBLISH', base .. ':wake', '1')
return { 'ok', s }
