--[[
  The series of some users that may have instances in a window, each with its version, for
  busy time (slot searches, counts). storage/series.py then reads the state of only the
  series it has not parsed at that version (read_series_states.lua).

  Mode: read
  KEYS[1..]: each user's series index, in ARGV order
  ARGV[1]: window start minute   ARGV[2]: window end minute (exclusive)
  ARGV[3..]: user ids
  Returns: {0, {user id, {series id, version, series id, version, ...}, ...}}
  A series qualifies when its earliest instance start (the index score) is before the end
  and its latest instance end ("hi") after the start.
]]
--- @include "keys"
--- @include "series"

local from_min, to_min = tonumber(ARGV[1]), ARGV[2]
local users, seen = {}, {}
for i = 3, #ARGV do
  local mine = {}
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[i - 2], '-inf', '(' .. to_min)) do
    -- people asked together share series: read each series' end and version once
    local f = seen[sid] or redis.call('HMGET', k_meeting(sid), 'hi', 'ver')
    seen[sid] = f
    if f[1] and ends_after(f[1], from_min) then
      mine[#mine + 1] = sid
      mine[#mine + 1] = f[2]
    end
  end
  users[#users + 1] = ARGV[i]
  users[#users + 1] = mine
end
return {0, users}
