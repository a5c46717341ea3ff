--[[
  Read a series with what its instances need, as its participant sees it.

  Mode: read
  KEYS[1]: the series hash
  ARGV[1]: series id   ARGV[2]: caller id
  ARGV[3]: "" for the whole state, or one instance's original start minute: the state then
           holds only that instance's own fields
  Returns: {0, series JSON, series state (see series_state in includes/series.lua)}
         | {404, message}: no such meeting, not a participant, or not a series
]]
--- @include "sets"
--- @include "series"
--- @include "meeting_json"

local sid, caller, mkey = ARGV[1], ARGV[2], KEYS[1]
local pids_text = redis.call('HGET', mkey, 'pids')
if not pids_text or not contains(decode_pids(pids_text), caller) or not is_series(mkey) then
  return fail(404, 'meeting ' .. sid .. ' not found')
end
return {0, meeting_json(mkey), series_state(sid, ARGV[3] ~= '' and ARGV[3] or nil)}
