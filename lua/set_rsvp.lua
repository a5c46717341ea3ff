--[[
  An invitee accepts or declines (and may change their mind); participants get
  meeting:onMeetingUpdated. Setting the status a user already has changes nothing and
  emits nothing.

  Mode: change
  KEYS[1]: the meeting hash
  ARGV[1]: meeting id   ARGV[2]: caller id   ARGV[3]: "accepted" | "declined"
  On a series (contract 9) this is the caller's series status: instances with a status of
  their own keep it; the series version and the caller's busy version move on. The busy
  version moves on for a single meeting too, since findMeetingTimes tells accepted from
  received.
  Returns: {0, 1 if changed else 0} | {403|404, message}
]]
--- @include "sets"
--- @include "busy"
--- @include "series"
--- @include "meeting_json"

local mid, caller, status, mkey = ARGV[1], ARGV[2], ARGV[3], KEYS[1]
if redis.call('EXISTS', mkey) == 0 then return fail(404, 'meeting ' .. mid .. ' not found') end
local cur = redis.call('HMGET', mkey, 'org', 'pids', 'start', 'end')
local pids = decode_pids(cur[2])
if not contains(pids, caller) then return fail(404, 'meeting ' .. mid .. ' not found') end
if caller == cur[1] then
  return fail(403, 'the organizer of meeting ' .. mid .. ' cannot accept or decline it')
end
if redis.call('HGET', mkey, 's:' .. caller) == status then return {0, 0} end
redis.call('HSET', mkey, 's:' .. caller, status, 'j:updated', '"' .. NOW_ISO .. '"')
if is_series(mkey) then
  redis.call('HSET', mkey, 'ver', change_version())
  busy_changed(caller)
elseif status == 'declined' then
  busy_remove(caller, mid, cur[3], cur[4])
else
  busy_add(caller, mid, cur[3], cur[4])
  -- received -> accepted keeps the index entry, but it is no longer tentative (contract 10)
  busy_changed(caller)
end
emit_to_all(pids, 'meeting:onMeetingUpdated', meeting_data(meeting_json(mkey)))
return {0, 1}
