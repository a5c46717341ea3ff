--[[
  Delete a prop and its social sessions; its meetings stay, marked invalid, and each
  participant gets meeting:onMeetingUpdated.

  KEYS[1]: the prop hash
  ARGV[4]: room id   ARGV[5]: prop id
  Returns: {0, 1 if it existed else 0}
]]
local rid, pid = ARGV[4], ARGV[5]
local existed = redis.call('EXISTS', KEYS[1])
local sessions = k_prop_sessions(rid, pid)
for _, sid in ipairs(redis.call('ZRANGE', sessions, 0, -1)) do
  redis.call('DEL', k_session(sid))
  redis.call('SREM', k_room_sessions(rid), sid)
end
redis.call('DEL', KEYS[1], sessions)
redis.call('SREM', k_room_props(rid), pid)
invalidate_source('prop:' .. rid .. ':' .. pid)
return {0, existed}
