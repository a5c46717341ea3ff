--[[
  Replace a user's weekly pattern for some weekdays, or one explicit local day, and record
  the zone the user's wall-clock times are in.

  Mode: change
  KEYS[1]: the user hash   KEYS[2]: the user's pattern hash   KEYS[3]: the user's day index
  KEYS[4]: the day's key (a pattern: KEYS[3] again, not touched)
  ARGV[1]: IANA time zone to store as the profile's timeZone, or ""
  ARGV[2]: fixed-offset zone to remember for a user without timeZone ("+09:00"), or ""
  ARGV[3]: "pattern" | "day"
  pattern: ARGV[4..]: weekday (0 = Sunday) / 180-byte bitmap pairs
  day:     ARGV[4]: the day's start (epoch minute)   ARGV[5]: bitmap
           ARGV[6]: when the day key expires (ms since the epoch)
  Every change gives the user a new `availVersion` (see change_version): readers cache by it.
  Returns: {0, ""}
]]
--- @include "fields"

local time_zone, offset_zone, mode = ARGV[1], ARGV[2], ARGV[3]
if time_zone ~= '' then redis.call('HSET', KEYS[1], 'timeZone', time_zone) end
if offset_zone ~= '' then redis.call('HSET', KEYS[1], 'offsetZone', offset_zone) end
redis.call('HSET', KEYS[1], 'availVersion', change_version())
if mode == 'pattern' then
  set_fields(KEYS[2], 4, (#ARGV - 3) / 2)
else
  local day_key, day_start, bitmap, expire_at = KEYS[4], ARGV[4], ARGV[5], ARGV[6]
  redis.call('SET', day_key, bitmap)
  redis.call('PEXPIREAT', day_key, expire_at)
  redis.call('ZADD', KEYS[3], day_start, day_key)
  -- forget index entries of days that have expired
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. math.floor(NOW_MS / 60000 - 90 * 1440))
end
return {0, ''}
