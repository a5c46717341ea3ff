--[[
  Upsert a batch of props; every prop's room must exist (else nothing is written).

  Mode: change
  KEYS[1..]: for each prop in ARGV order, two keys: its hash and its room's hash
  ARGV[1..]: for each prop: roomId, id, field count N (0 or 1), then N field/value pairs (title)
  Returns: {0, count} | {404, message}
]]
--- @include "keys"
--- @include "fields"

local i, count = 1, 0
while i <= #ARGV do
  count = count + 1
  if redis.call('EXISTS', KEYS[2 * count]) == 0 then
    return fail(404, 'room ' .. ARGV[i] .. ' not found (prop ' .. ARGV[i + 1] .. ')')
  end
  i = i + 3 + 2 * tonumber(ARGV[i + 2])
end
i, count = 1, 0
while i <= #ARGV do
  local rid, pid, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  count = count + 1
  local pkey = KEYS[2 * count - 1]
  redis.call('HSET', pkey, 'id', pid, 'roomId', rid)
  set_fields(pkey, i + 3, n)
  redis.call('SADD', k_room_props(rid), pid)
  i = i + 3 + 2 * n
end
return {0, count}
