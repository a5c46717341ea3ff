--[[
  Replace a user's weekly pattern for some weekdays, or one explicit local day, and record
  the zone the user's wall-clock times are in.

  KEYS[1]: the user hash   KEYS[2]: the user's pattern hash   KEYS[3]: the user's day index
  ARGV[4]: IANA time zone to store as the profile's timeZone, or ""
  ARGV[5]: fixed-offset zone to remember for a user without timeZone ("+09:00"), or ""
  ARGV[6]: "pattern" | "day"
  pattern: ARGV[7..]: weekday (0 = Sunday) / 180-byte bitmap pairs
  day:     ARGV[7]: day key   ARGV[8]: the day's start (epoch minute)   ARGV[9]: bitmap
           ARGV[10]: when the day key expires (ms since the epoch)
  Every change gives the user a new `availVersion` (see change_version): readers cache by it.
  Returns: {0, ""}
]]
local time_zone, offset_zone, mode = ARGV[4], ARGV[5], ARGV[6]
if time_zone ~= '' then redis.call('HSET', KEYS[1], 'timeZone', time_zone) end
if offset_zone ~= '' then redis.call('HSET', KEYS[1], 'offsetZone', offset_zone) end
redis.call('HSET', KEYS[1], 'availVersion', change_version())
if mode == 'pattern' then
  set_fields(KEYS[2], 7, (#ARGV - 6) / 2)
else
  local day_key, day_start, bitmap, expire_at = ARGV[7], ARGV[8], ARGV[9], ARGV[10]
  redis.call('SET', day_key, bitmap)
  redis.call('PEXPIREAT', day_key, expire_at)
  redis.call('ZADD', KEYS[3], day_start, day_key)
  -- forget index entries of days that have expired
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. math.floor(NOW_MS / 60000 - 90 * 1440))
end
return {0, ''}
