--[[
  Delete a room with its props and social sessions; their meetings stay, marked invalid,
  and each participant gets meeting:onMeetingUpdated.

  Mode: change
  KEYS[1]: the room hash   KEYS[2]: its prop set   KEYS[3]: its social session set
  KEYS[4]: the social sessions of the room itself (not of a prop)   KEYS[5]: its meeting index
  ARGV[1]: room id
  Returns: {0, 1 if it existed else 0}
]]
--- @include "keys"
--- @include "invalidate"

local rid = ARGV[1]
local existed = redis.call('EXISTS', KEYS[1])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local old = redis.call('HGET', k_session(sid), 'propId')
  if old then redis.call('DEL', k_prop_sessions(rid, old)) end
  redis.call('DEL', k_session(sid))
end
redis.call('DEL', KEYS[4])
for _, pid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', k_prop(rid, pid), k_prop_sessions(rid, pid))
  invalidate_source(k_source('prop:' .. rid .. ':' .. pid))
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
invalidate_source(KEYS[5])
return {0, existed}
