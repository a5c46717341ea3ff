--[[
  The busy index: for each user, the single meetings they organize or have not declined,
  scored by start minute, member "<meetingId>:<start minute>:<end minute>", so a slot
  search reads busy time with one range query per user and no scores. Every change of it
  moves the user's busy version.
]]
--- @include "keys"
--- @include "versions"

local function busy_member(mid, start_min, end_min)
  return mid .. ':' .. string.format('%d', start_min) .. ':' .. string.format('%d', end_min)
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
