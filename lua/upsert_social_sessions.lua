--[[
  Upsert a batch of social sessions, indexed by end minute under their prop (or room).

  Mode: change
  KEYS[1..]: each session's hash, in ARGV order
  ARGV[1..]: for each session: id, roomId, propId ("" for the room itself),
             start minute, end minute ("" keeps the stored one, 0 if none)
  Returns: {0, count}
]]
--- @include "keys"

local i, count = 1, 0
while i <= #ARGV do
  local sid, rid, pid, start_min, end_min = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  count = count + 1
  local skey = KEYS[count]
  local old = redis.call('HMGET', skey, 'roomId', 'propId', 'start', 'end')
  if start_min == '' then start_min = old[3] or '0' end
  if end_min == '' then end_min = old[4] or '0' end
  if old[1] then
    redis.call('ZREM', k_prop_sessions(old[1], old[2]), sid)
    redis.call('SREM', k_room_sessions(old[1]), sid)
  end
  redis.call('HSET', skey, 'id', sid, 'roomId', rid, 'propId', pid, 'start', start_min, 'end', end_min)
  redis.call('ZADD', k_prop_sessions(rid, pid), end_min, sid)
  redis.call('SADD', k_room_sessions(rid), sid)
  i = i + 5
end
return {0, count}
