--[[
  Delete one social session (deleting what does not exist succeeds).

  Mode: change
  KEYS[1]: the session hash
  ARGV[1]: session id
  Returns: {0, 1 if it existed else 0}
]]
--- @include "keys"

local sid = ARGV[1]
local old = redis.call('HMGET', KEYS[1], 'roomId', 'propId')
if not old[1] then return {0, 0} end
redis.call('ZREM', k_prop_sessions(old[1], old[2]), sid)
redis.call('SREM', k_room_sessions(old[1]), sid)
redis.call('DEL', KEYS[1])
return {0, 1}
