--[[
  Read-only: the series of some users that may have instances in a window, and the state
  of each of those series once, for busy time (slot searches, counts).

  KEYS: none (user and series keys are built from the prefix)
  ARGV[4]: window start minute   ARGV[5]: window end minute (exclusive)
  ARGV[6..]: user ids
  Returns: {0, {user id, {series id, ...}, ...}, {series state, ...}}
  A series qualifies when its earliest instance start (the index score) is before the end
  and its latest instance end ("hi") after the start.
]]
local from_min, to_min = tonumber(ARGV[4]), ARGV[5]
local users, states, seen = {}, {}, {}
for i = 6, #ARGV do
  local uid = ARGV[i]
  local mine = {}
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', k_user_series(uid), '-inf', '(' .. to_min)) do
    local hi = redis.call('HGET', k_meeting(sid), 'hi')
    if hi and ends_after(hi, from_min) then
      mine[#mine + 1] = sid
      if not seen[sid] then
        seen[sid] = true
        states[#states + 1] = series_state(sid)
      end
    end
  end
  users[#users + 1] = uid
  users[#users + 1] = mine
end
return {0, users, states}
