--[[
  Upsert a batch of props; every prop's room must exist (else nothing is written).

  KEYS: none (room and prop keys are built from the prefix)
  ARGV[4..]: for each prop: roomId, id, field count N (0 or 1), then N field/value pairs (title)
  Returns: {0, count} | {404, message}
]]
local i = 4
while i <= #ARGV do
  local rid = ARGV[i]
  if redis.call('EXISTS', k_room(rid)) == 0 then
    return fail(404, 'room ' .. rid .. ' not found (prop ' .. ARGV[i + 1] .. ')')
  end
  i = i + 3 + 2 * tonumber(ARGV[i + 2])
end
i = 4
local count = 0
while i <= #ARGV do
  local rid, pid, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local pkey = k_prop(rid, pid)
  redis.call('HSET', pkey, 'id', pid, 'roomId', rid)
  set_fields(pkey, i + 3, n)
  redis.call('SADD', k_room_props(rid), pid)
  i, count = i + 3 + 2 * n, count + 1
end
return {0, count}
