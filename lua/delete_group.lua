--[[
  Delete a group; its meetings stay, marked invalid, and participants are notified.

  Mode: change
  KEYS[1]: the group hash   KEYS[2]: its member set   KEYS[3]: its meeting index
  ARGV[1]: group id
  Returns: {0, 1 if it existed else 0}
]]
--- @include "keys"
--- @include "invalidate"

local gid = ARGV[1]
local existed = redis.call('EXISTS', KEYS[1])
for _, uid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('SREM', k_user_groups(uid), gid)
end
redis.call('DEL', KEYS[1], KEYS[2])
invalidate_source(KEYS[3])
return {0, existed}
