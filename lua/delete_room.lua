--[[
  Delete a room with its props and social sessions; their meetings stay, marked invalid,
  and each participant gets meeting:onMeetingUpdated.

  KEYS[1]: the room hash
  ARGV[4]: room id
  Returns: {0, 1 if it existed else 0}
]]
local rid = ARGV[4]
local existed = redis.call('EXISTS', KEYS[1])
for _, sid in ipairs(redis.call('SMEMBERS', k_room_sessions(rid))) do
  local old = redis.call('HGET', k_session(sid), 'propId')
  if old then redis.call('DEL', k_prop_sessions(rid, old)) end
  redis.call('DEL', k_session(sid))
end
redis.call('DEL', k_prop_sessions(rid, ''))
for _, pid in ipairs(redis.call('SMEMBERS', k_room_props(rid))) do
  redis.call('DEL', k_prop(rid, pid), k_prop_sessions(rid, pid))
  invalidate_source('prop:' .. rid .. ':' .. pid)
end
redis.call('DEL', KEYS[1], k_room_props(rid), k_room_sessions(rid))
invalidate_source('room:' .. rid)
return {0, existed}
