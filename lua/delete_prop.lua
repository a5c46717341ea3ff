--[[
  Delete a prop and its social sessions; its meetings stay, marked invalid, and each
  participant gets meeting:onMeetingUpdated.

  Mode: change
  KEYS[1]: the prop hash   KEYS[2]: its social sessions (by end minute)
  KEYS[3]: its room's social session set   KEYS[4]: its room's prop set
  KEYS[5]: its meeting index
  ARGV[1]: prop id
  Returns: {0, 1 if it existed else 0}
]]
--- @include "keys"
--- @include "invalidate"

local pid = ARGV[1]
local existed = redis.call('EXISTS', KEYS[1])
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  redis.call('DEL', k_session(sid))
  redis.call('SREM', KEYS[3], sid)
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[4], pid)
invalidate_source(KEYS[5])
return {0, existed}
