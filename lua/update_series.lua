--[[
  Change a whole series (organizer only; contract 9), or make a single meeting a series:
  stored fields, first start and length, rule and zone, invitee list. storage/series.py
  read the series at version ARGV[3] and validated the outcome; this applies it only if
  the series is still at that version (compare-and-set). A change of first start, length
  or rule ("reset") drops every instance's own changes and puts every invitee back to
  "received". Added invitees get meeting:onMeetingCreated, removed ones
  meeting:onMeetingDeleted, the others meeting:onMeetingUpdated (the series), one event id.

  Mode: change
  KEYS[1]: the meeting hash   KEYS[2]: its instance hash
  ARGV[1]: meeting id   ARGV[2]: caller id
  ARGV[3]: series version read; "single:<start>:<end>" (minutes) when it was read as a
    single meeting, whose times it starts the series from
  ARGV[4]: new participant ids, JSON (organizer first), or "" to keep them
  ARGV[5]: "1" for a reset
  ARGV[6..]: hash field/value pairs to set (j:<name> JSON values, rule, tz, start, end,
    len, lo, hi, j:recurrence)
  Returns: {0, series JSON} | {403|404, message}
         | {299, message}: the meeting changed since it was read (nothing written)
]]
--- @include "keys"
--- @include "sets"
--- @include "fields"
--- @include "users"
--- @include "busy"
--- @include "series"
--- @include "meeting_json"

local mid, caller, version, reset = ARGV[1], ARGV[2], ARGV[3], ARGV[5] == '1'
local mkey, xkey = KEYS[1], KEYS[2]
local cur = redis.call('HMGET', mkey, 'org', 'pids', 'ver', 'rule', 'src', 'start', 'end', 'stype', 'spk', 'valid')
if not cur[2] then return fail(404, 'meeting ' .. mid .. ' not found') end
local organizer, old_pids = cur[1], decode_pids(cur[2])
if not contains(old_pids, caller) then return fail(404, 'meeting ' .. mid .. ' not found') end
local seen = cur[4] and (cur[3] or '') or ('single:' .. cur[6] .. ':' .. cur[7])
if seen ~= version then return fail(299, 'meeting ' .. mid .. ' changed while this change was prepared') end
local pids = old_pids
if ARGV[4] ~= '' then
  pids = decode_pids(ARGV[4])
  -- the other user of a direct meeting stays invited whatever the new list says (while
  -- still in it: once erased, the meeting never names them again, even if re-created)
  if cur[8] == 'direct' and contains(old_pids, cur[9]) and not contains(pids, cur[9]) then
    table.insert(pids, 2, cur[9])
  end
end
local added, removed, kept = split_participants(old_pids, pids)
local missing = missing_users(added)
if missing then return missing end
-- Permission last: 404 (existence, the invitees' too), then 403 (contract 3).
if caller ~= organizer then return fail(403, 'only the organizer may change meeting ' .. mid) end

-- All checks passed: write.
if not cur[4] then -- a single meeting becomes a series: out of the single indexes
  for _, uid in ipairs(old_pids) do
    redis.call('ZREM', k_user_meetings(uid), mid)
    busy_remove(uid, mid, cur[6], cur[7])
  end
end
for _, uid in ipairs(removed) do
  redis.call('ZREM', k_user_series(uid), mid)
  redis.call('HDEL', mkey, 's:' .. uid)
end
if reset then
  redis.call('DEL', xkey)
  redis.call('HDEL', mkey, 'xo') -- counted again when next needed (includes/series.lua)
  set_statuses(mkey, pids, 2, 'received')
else
  forget_instance_statuses(xkey, removed)
  set_statuses(mkey, added, 1, 'received')
end
set_fields(mkey, 6, (#ARGV - 5) / 2)
redis.call('HSET', mkey, 'pids', cjson.encode(pids), 'j:updated', '"' .. NOW_ISO .. '"', 'ver', change_version())
local lo, hi = unpack(redis.call('HMGET', mkey, 'lo', 'hi'))
for _, uid in ipairs(pids) do redis.call('ZADD', k_user_series(uid), lo, mid) end
for _, uid in ipairs(old_pids) do busy_changed(uid) end
for _, uid in ipairs(added) do busy_changed(uid) end
if cur[10] == '1' then redis.call('ZADD', k_source(cur[5]), end_score(hi), mid) end

local event_id = next_event_id()
local json = meeting_json(mkey)
local data = meeting_data(json)
emit(added, event_id, push_frame('meeting:onMeetingCreated', event_id, data))
emit(kept, event_id, push_frame('meeting:onMeetingUpdated', event_id, data))
emit(removed, event_id, push_frame('meeting:onMeetingDeleted', event_id, deleted_data(mid)))
return {0, json}
