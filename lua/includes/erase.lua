--[[
  Removing a meeting or a series with every index entry of it.
]]
--- @include "keys"
--- @include "versions"
--- @include "busy"
--- @include "series"

-- cur: HMGET of org, pids, src, start, end.
local function erase_meeting(mkey, mid, pids, cur)
  local series = is_series(mkey)
  for _, uid in ipairs(pids) do
    if series then
      redis.call('ZREM', k_user_series(uid), mid)
      busy_changed(uid)
    else
      redis.call('ZREM', k_user_meetings(uid), mid)
      busy_remove(uid, mid, cur[4], cur[5])
    end
  end
  redis.call('ZREM', k_source(cur[3]), mid)
  redis.call('DEL', mkey, k_series_instances(mid))
end
