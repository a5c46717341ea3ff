--[[
  Upsert a batch of social sessions, indexed by end minute under their prop (or room).
  All or nothing: every session is checked before any is written.

  Mode: change
  KEYS[1..]: each session's hash, in ARGV order
  ARGV[1..]: for each session: id, roomId, propId ("" for the room itself, ":" to keep the
             stored one: no id has a colon; a session that moves to another room, or a new
             one, is then on the room itself), start minute, end minute ("" keeps the
             stored one, 0 if none)
  Returns: {0, count} | {400, message} (an end not after the start, one of them stored)
]]
--- @include "keys"

local sessions, latest = {}, {}
for i = 1, #ARGV, 5 do
  local n = #sessions + 1
  local s = {key = KEYS[n], id = ARGV[i], room = ARGV[i + 1], prop = ARGV[i + 2],
    start = ARGV[i + 3], finish = ARGV[i + 4]}
  -- An id the batch names again: what its earlier entry will have written (in order).
  local before = latest[s.id]
  s.old = before and {before.room, before.prop, before.start, before.finish}
    or redis.call('HMGET', s.key, 'roomId', 'propId', 'start', 'end')
  local given = s.finish ~= '' and 'endDate' or 'startDate'
  if s.prop == ':' then s.prop = (s.old[1] == s.room and s.old[2]) or '' end
  if s.start == '' then s.start = s.old[3] or '0' end
  if s.finish == '' then s.finish = s.old[4] or '0' end
  if s.start ~= '0' and s.finish ~= '0' and tonumber(s.finish) <= tonumber(s.start) then
    return {400, '`data.sessions[' .. (n - 1) .. '].' .. given .. '`: the session would end before it'
      .. ' starts (with the stored date where only one is given)'}
  end
  sessions[n], latest[s.id] = s, s
end
for _, s in ipairs(sessions) do
  if s.old[1] then
    redis.call('ZREM', k_prop_sessions(s.old[1], s.old[2]), s.id)
    redis.call('SREM', k_room_sessions(s.old[1]), s.id)
  end
  redis.call('HSET', s.key, 'id', s.id, 'roomId', s.room, 'propId', s.prop, 'start', s.start, 'end', s.finish)
  redis.call('ZADD', k_prop_sessions(s.room, s.prop), s.finish, s.id)
  redis.call('SADD', k_room_sessions(s.room), s.id)
end
return {0, #sessions}
