--[[
  Upsert a batch of rooms (fields given replace, absent ones keep their value).

  KEYS: none (room keys are built from the prefix)
  ARGV[4..]: for each room: id, field count N, then N field/value pairs
             (networkId, title, thumbnail as JSON text)
  Returns: {0, count}
]]
local i, count = 4, 0
while i <= #ARGV do
  local rid, n = ARGV[i], tonumber(ARGV[i + 1])
  local rkey = k_room(rid)
  redis.call('HSET', rkey, 'id', rid)
  set_fields(rkey, i + 2, n)
  i, count = i + 2 + 2 * n, count + 1
end
return {0, count}
