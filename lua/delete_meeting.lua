--[[
  Delete a meeting or a whole series (organizer only) and emit meeting:onMeetingDeleted to
  every participant.

  Mode: change
  KEYS[1]: the meeting hash
  ARGV[1]: meeting id   ARGV[2]: caller id
  Returns: {0, ""} | {403|404, message}
]]
--- @include "sets"
--- @include "meeting_json"
--- @include "erase"

local mid, caller, mkey = ARGV[1], ARGV[2], KEYS[1]
if redis.call('EXISTS', mkey) == 0 then return fail(404, 'meeting ' .. mid .. ' not found') end
local cur = redis.call('HMGET', mkey, 'org', 'pids', 'src', 'start', 'end')
local pids = decode_pids(cur[2])
if not contains(pids, caller) then return fail(404, 'meeting ' .. mid .. ' not found') end
if caller ~= cur[1] then return fail(403, 'only the organizer may delete meeting ' .. mid) end
erase_meeting(mkey, mid, pids, cur)
emit_to_all(pids, 'meeting:onMeetingDeleted', deleted_data(mid))
return {0, ''}
