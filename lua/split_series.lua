--[[
  "This and following" (contract 9, scope "following"): end a series before one of its
  instances and, for an update, start a new series there, in one atomic step (organizer
  only). storage/series.py read the series at version ARGV[3] and computed both parts;
  this applies them only if the series is still at that version (compare-and-set). The
  new series is a copy of the old one (fields, participants, series statuses) with the
  given pairs on top; it takes over the later instances' own changes (ARGV new instance
  pairs), which leave the old series. The old series' participants get
  meeting:onMeetingUpdated (the old series), the new one's meeting:onMeetingCreated (the
  new series), the second event id right after the first (a user gets both).

  Mode: change
  KEYS[1]: the series hash   KEYS[2]: its instance hash
  KEYS[3]: the new series hash   KEYS[4]: the new series' instance hash (only ending:
  KEYS[1] and KEYS[2] again, not touched)
  ARGV[1]: series id   ARGV[2]: caller id   ARGV[3]: series version read
  ARGV[4]: new series id, "" to only end the series (delete "following")
  ARGV[5]: old series' field/value pairs, JSON object (rule, hi, j:recurrence)
  ARGV[6]: old instance hash fields to drop, JSON list
  ARGV[7]: new series' participant ids, JSON, or "" for the same
  ARGV[8]: "1": the new series' times or rule differ (every invitee "received")
  ARGV[9]: new series' instance hash, JSON object
  ARGV[10..]: new series' field/value pairs (j:<name> JSON values, rule, tz, start, end,
    len, lo, hi, j:recurrence)
  Returns: {0, new series JSON, or "" when only ended} | {403|404, message}
         | {409, message}: the new series id exists
         | {299, message}: the series changed since it was read (nothing written)
]]
--- @include "keys"
--- @include "sets"
--- @include "fields"
--- @include "users"
--- @include "series"
--- @include "meeting_json"

local sid, caller, version, nid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local mkey, xkey, nkey, nxkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local cur = redis.call('HMGET', mkey, 'org', 'pids', 'ver', 'rule', 'src', 'valid', 'stype', 'spk')
if not cur[2] or not cur[4] then return fail(404, 'meeting ' .. sid .. ' not found') end
local organizer, old_pids = cur[1], decode_pids(cur[2])
if not contains(old_pids, caller) then return fail(404, 'meeting ' .. sid .. ' not found') end
if cur[3] ~= version then return fail(299, 'series ' .. sid .. ' changed while this change was prepared') end
local pids = old_pids
if ARGV[7] ~= '' then
  pids = decode_pids(ARGV[7])
  -- the other user of a direct series stays invited (while still in it, as in update_series)
  if cur[7] == 'direct' and contains(old_pids, cur[8]) and not contains(pids, cur[8]) then
    table.insert(pids, 2, cur[8])
  end
end
local added, removed = split_participants(old_pids, pids)
local missing = missing_users(added)
if missing then return missing end
-- Permission after existence, the invitees' too (contract 3).
if caller ~= organizer then return fail(403, 'only the organizer may change meeting ' .. sid) end
if nid ~= '' and redis.call('EXISTS', nkey) == 1 then return fail(409, 'meeting ' .. nid .. ' already exists') end

-- All checks passed: write. The copy is taken before the old series changes.
local function hset_object(key, json)
  local flat = {}
  for field, value in pairs(cjson.decode(json)) do
    flat[#flat + 1] = field
    flat[#flat + 1] = value
  end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
if nid ~= '' then
  redis.call('HSET', nkey, unpack(redis.call('HGETALL', mkey)))
  redis.call('HDEL', nkey, 'xo') -- its own changes are counted when next needed
  for _, uid in ipairs(removed) do redis.call('HDEL', nkey, 's:' .. uid) end
  set_statuses(nkey, ARGV[8] == '1' and pids or added, ARGV[8] == '1' and 2 or 1, 'received')
  set_fields(nkey, 10, (#ARGV - 9) / 2)
  redis.call('HSET', nkey, 'pids', cjson.encode(pids), 'ver', change_version())
  hset_object(nxkey, ARGV[9])
  forget_instance_statuses(nxkey, removed)
  local lo, hi = unpack(redis.call('HMGET', nkey, 'lo', 'hi'))
  for _, uid in ipairs(pids) do
    redis.call('ZADD', k_user_series(uid), lo, nid)
    busy_changed(uid)
  end
  if cur[6] == '1' then redis.call('ZADD', k_source(cur[5]), end_score(hi), nid) end
end
hset_object(mkey, ARGV[5])
local dropped = cjson.decode(ARGV[6])
if #dropped > 0 then redis.call('HDEL', xkey, unpack(dropped)) end
redis.call('HDEL', mkey, 'xo') -- counted again when next needed (includes/series.lua)
redis.call('HSET', mkey, 'j:updated', '"' .. NOW_ISO .. '"', 'ver', change_version())
for _, uid in ipairs(old_pids) do busy_changed(uid) end
if cur[6] == '1' then redis.call('ZADD', k_source(cur[5]), end_score(redis.call('HGET', mkey, 'hi')), sid) end

local event_id = next_event_id()
local old_data = meeting_data(meeting_json(mkey))
emit(old_pids, event_id, push_frame('meeting:onMeetingUpdated', event_id, old_data))
if nid == '' then return {0, ''} end
local json = meeting_json(nkey)
emit_to_all(pids, 'meeting:onMeetingCreated', meeting_data(json))
return {0, json}
