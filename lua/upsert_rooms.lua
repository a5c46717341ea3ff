--[[
  Upsert a batch of rooms (fields given replace, absent ones keep their value).

  Mode: change
  KEYS[1..]: each room's hash, in ARGV order
  ARGV[1..]: for each room: id, field count N, then N field/value pairs
             (networkId, title, thumbnail as JSON text)
  Returns: {0, count}
]]
--- @include "fields"

local i, count = 1, 0
while i <= #ARGV do
  local rid, n = ARGV[i], tonumber(ARGV[i + 1])
  count = count + 1
  redis.call('HSET', KEYS[count], 'id', rid)
  set_fields(KEYS[count], i + 2, n)
  i = i + 2 + 2 * n
end
return {0, count}
