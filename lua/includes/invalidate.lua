--[[
  A deleted source (room, prop, group, a deleted user's direct meetings): its meetings stay,
  marked invalid, and their participants are told.
]]
--- @include "keys"
--- @include "meeting_json"
--- @include "events"
--- @include "versions"

-- skey: the source's meeting index (src:<source string>).
local function invalidate_source(skey)
  local mids = redis.call('ZRANGE', skey, 0, -1)
  for _, mid in ipairs(mids) do
    local mkey = k_meeting(mid)
    if redis.call('HGET', mkey, 'valid') == '1' then
      redis.call('HSET', mkey, 'valid', '0', 'j:updated', '"' .. NOW_ISO .. '"')
      -- A series' change prepared before this (an instance's, with its JSON) must be
      -- prepared again, or its event would show the series valid.
      if redis.call('HEXISTS', mkey, 'ver') == 1 then redis.call('HSET', mkey, 'ver', change_version()) end
      emit_to_all(decode_pids(redis.call('HGET', mkey, 'pids')), 'meeting:onMeetingUpdated',
        meeting_data(meeting_json(mkey)))
    end
  end
  redis.call('DEL', skey)
end
