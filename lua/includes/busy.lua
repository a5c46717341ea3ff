--[[
  The busy index: for each user, the single meetings they organize or have not declined,
  scored by start minute, member "<meetingId>:<start minute>:<end minute>", so a slot
  search reads busy time with one range query per user and no scores. Every change of it
  moves the user's busy version.
]]
--- @include "keys"
--- @include "versions"

-- A minute as the member writes it: a string (an argument, a stored field) is already
-- integer text; only a number is formatted (string.format is a costly call: 2.5 % of a
-- create when it formatted every minute).
local function minute_text(minute)
  if type(minute) == 'string' then return minute end
  return string.format('%d', minute)
end

local function busy_member(mid, start_min, end_min)
  return mid .. ':' .. minute_text(start_min) .. ':' .. minute_text(end_min)
end

local function busy_add(uid, mid, start_min, end_min)
  if redis.call('ZADD', k_user_busy(uid), start_min, busy_member(mid, start_min, end_min)) == 1 then
    busy_changed(uid)
  end
end

local function busy_remove(uid, mid, start_min, end_min)
  if redis.call('ZREM', k_user_busy(uid), busy_member(mid, start_min, end_min)) == 1 then
    busy_changed(uid)
  end
end
