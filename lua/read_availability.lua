--[[
  Read-only: the weekly pattern and the explicit days of some users for a window, with
  the version they were read at, in one consistent snapshot.

  KEYS: none (user keys are built from the prefix)
  ARGV[4]: window start (epoch minute)   ARGV[5]: window end, or "inf"
  ARGV[6..]: user ids
  Returns: {0, per user that exists: {user id, version, {weekday, bitmap, ...},
            {day key, bitmap, ...}}}
  The version is the user's `availVersion` ("0" if never set, see set_availability.lua).
  Days are those whose start (in the zone they were set in) lies in
  [window start - 25 h - 26 h, window end + 26 h): a local day of one zone can begin a
  day before a window drawn in another, and a user who moved since setting a day has it
  begin up to 26 hours (UTC-12 to UTC+14) away from where it begins in their zone now.
]]
local ZONE_SPREAD = 26 * 60
local from_min = tonumber(ARGV[4]) - 1500 - ZONE_SPREAD
local to_arg = ARGV[5] == 'inf' and '+inf' or '(' .. (tonumber(ARGV[5]) + ZONE_SPREAD)
local out = {0}
for i = 6, #ARGV do
  local uid = ARGV[i]
  if redis.call('EXISTS', k_user(uid)) == 1 then
    local days = {}
    for _, day_key in ipairs(redis.call('ZRANGEBYSCORE', k_user_days(uid), from_min, to_arg)) do
      local bitmap = redis.call('GET', day_key)
      if bitmap then
        days[#days + 1] = day_key
        days[#days + 1] = bitmap
      end
    end
    local version = redis.call('HGET', k_user(uid), 'availVersion') or '0'
    out[#out + 1] = {uid, version, redis.call('HGETALL', k_user_pattern(uid)), days}
  end
end
return out
