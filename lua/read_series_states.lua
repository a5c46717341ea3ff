--[[
  The state of some series (see series_state in includes/series.lua), for expanding them.

  Mode: read
  KEYS[1..]: each series' hash, in ARGV order
  ARGV[1..]: series ids
  Returns: {0, {series state, ...}} for the series that exist, in the order asked
]]
--- @include "series"

local states = {}
for i = 1, #ARGV do
  if redis.call('EXISTS', KEYS[i]) == 1 then states[#states + 1] = series_state(ARGV[i]) end
end
return {0, states}
