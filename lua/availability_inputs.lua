--[[
  Read-only: everything a slot search, an availability read or the meeting counts need,
  for many users in one round trip.

  KEYS: none (user keys are built from the prefix)
  ARGV[4]: window start (epoch minute)   ARGV[5]: window end, or "inf"
  ARGV[6]: longest meeting, minutes
  ARGV[7..]: users, each "id:<user id>" or "email:<casefolded email>"
  Returns: {0, per user that exists: {user id, zone, {weekday, bitmap, ...},
            {day key, bitmap, ...}, {busy member, ...}}}
  Users that do not exist are left out; each user appears once.
  Busy members are "<meetingId>:<start minute>:<end minute>" from the user's busy index with start in
  [window start - longest, window end); the caller drops duplicates and those ending
  before the window (plain range reads keep the time spent inside Redis small).
  Busy time comes from the user's busy index (meetings they organize or have not
  declined, see _lib.lua). The zone is the profile's timeZone, else the offset remembered at their last setting, else "".
]]
local from_min, longest = tonumber(ARGV[4]), tonumber(ARGV[6])
local to_arg = ARGV[5] == 'inf' and '+inf' or '(' .. ARGV[5]
local out, done = {0}, {}
for i = 7, #ARGV do
  local kind, value = string.match(ARGV[i], '^(%a+):(.*)$')
  local uid = value
  if kind == 'email' then uid = redis.call('GET', k_email(value)) end
  if uid and not done[uid] and redis.call('EXISTS', k_user(uid)) == 1 then
  done[uid] = true
  local zone = redis.call('HMGET', k_user(uid), 'timeZone', 'offsetZone')
  local chosen = (zone[1] and zone[1] ~= '') and zone[1] or (zone[2] or '')
  local days = {}
  for _, day_key in ipairs(redis.call('ZRANGEBYSCORE', k_user_days(uid), from_min - 1500, to_arg)) do
    local bitmap = redis.call('GET', day_key)
    if bitmap then
      days[#days + 1] = day_key
      days[#days + 1] = bitmap
    end
  end
  local busy = redis.call('ZRANGEBYSCORE', k_user_busy(uid), from_min - longest, to_arg)
  out[#out + 1] = {uid, chosen, redis.call('HGETALL', k_user_pattern(uid)), days, busy}
  end
end
return out
