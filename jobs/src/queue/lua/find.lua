-- Finds a timer still waiting compactly (timer.lua), by id.
-- KEYS[1] scheduled zset; ARGV[1] the id
-- Returns { member, score } or {} when no such timer waits.
local member, score = find_timer(KEYS[1], ARGV[1])
if member then return { member, score } end
return {}
