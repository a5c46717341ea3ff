--[[
  Read one meeting as its participant sees it.

  Mode: read
  KEYS[1]: the meeting hash
  ARGV[1]: meeting id   ARGV[2]: caller id
  Returns: {0, meeting JSON} | {404, message}
]]
--- @include "sets"
--- @include "meeting_json"

local mid, caller, mkey = ARGV[1], ARGV[2], KEYS[1]
local pids_text = redis.call('HGET', mkey, 'pids')
if not pids_text or not contains(decode_pids(pids_text), caller) then
  return fail(404, 'meeting ' .. mid .. ' not found')
end
return {0, meeting_json(mkey)}
