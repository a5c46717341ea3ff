--[[
  Read-only: the state of some series (see series_state in _lib.lua), for expanding them.

  KEYS: none (series keys are built from the prefix)
  ARGV[4..]: series ids
  Returns: {0, {series state, ...}} for the series that exist, in the order asked
]]
local states = {}
for i = 4, #ARGV do
  if redis.call('EXISTS', k_meeting(ARGV[i])) == 1 then states[#states + 1] = series_state(ARGV[i]) end
end
return {0, states}
