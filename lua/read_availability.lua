--[[
  The weekly pattern and the explicit days of some users for a window, with the version
  they were read at, in one consistent snapshot.

  Mode: read
  KEYS[1..]: for each user in ARGV order, three keys: their hash, weekly pattern and day index
  ARGV[1]: window start (epoch minute)   ARGV[2]: window end, or "inf"
  ARGV[3..]: user ids
  Returns: {0, per user that exists: {user id, version, {weekday, bitmap, ...},
            {day key, bitmap, ...}}}
  The version is the user's `availVersion` ("0" if never set, see set_availability.lua).
  Days are those whose start (in the zone they were set in) lies in
  [window start - 25 h - 26 h, window end + 26 h): a local day of one zone can begin a
  day before a window drawn in another, and a user who moved since setting a day has it
  begin up to 26 hours (UTC-12 to UTC+14) away from where it begins in their zone now.
  The day keys come from the day index (each carries the tenant's hash tag).
]]
local ZONE_SPREAD = 26 * 60
local from_min = tonumber(ARGV[1]) - 1500 - ZONE_SPREAD
local to_arg = ARGV[2] == 'inf' and '+inf' or '(' .. (tonumber(ARGV[2]) + ZONE_SPREAD)
local out = {0}
for i = 3, #ARGV do
  local ukey, pattern, days_key = KEYS[3 * i - 8], KEYS[3 * i - 7], KEYS[3 * i - 6]
  if redis.call('EXISTS', ukey) == 1 then
    local days = {}
    for _, day_key in ipairs(redis.call('ZRANGEBYSCORE', days_key, from_min, to_arg)) do
      local bitmap = redis.call('GET', day_key)
      if bitmap then
        days[#days + 1] = day_key
        days[#days + 1] = bitmap
      end
    end
    local version = redis.call('HGET', ukey, 'availVersion') or '0'
    out[#out + 1] = {ARGV[i], version, redis.call('HGETALL', pattern), days}
  end
end
return out
