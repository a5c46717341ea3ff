--[[
  Read-only: the weekly pattern and the explicit days of some users for a window, with
  the version they were read at, in one consistent snapshot.

  KEYS: none (user keys are built from the prefix)
  ARGV[4]: window start (epoch minute)   ARGV[5]: window end, or "inf"
  ARGV[6..]: user ids
  Returns: {0, per user that exists: {user id, version, {weekday, bitmap, ...},
            {day key, bitmap, ...}}}
  The version is the user's `availVersion` ("0" if never set, see set_availability.lua).
  Days are those whose start lies in [window start - 25 h, window end): a local day of
  one zone can begin a day before a window drawn in another.
]]
local from_min = tonumber(ARGV[4])
local to_arg = ARGV[5] == 'inf' and '+inf' or '(' .. ARGV[5]
local out = {0}
for i = 6, #ARGV do
  local uid = ARGV[i]
  if redis.call('EXISTS', k_user(uid)) == 1 then
    local days = {}
    for _, day_key in ipairs(redis.call('ZRANGEBYSCORE', k_user_days(uid), from_min - 1500, to_arg)) do
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
