-- Finds timers still waiting compactly (timer.lua), by id.
-- KEYS[1] scheduled zset; ARGV the ids (at most 1,000)
-- Returns a flat list: member, score per id, both '' when no such timer
-- waits, in input order.
local out = {}
for i = 1, #ARGV do
  local member, score = find_timer(KEYS[1], ARGV[i])
  out[#out + 1] = member or ''
  out[#out + 1] = score or ''
end
return out
