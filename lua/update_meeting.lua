--[[
  Update a meeting (organizer only): stored fields, times, invitee list and, for the
  deprecated API, its room/prop. A change of start or end puts every invitee back to
  "received". Added invitees get meeting:onMeetingCreated, removed ones
  meeting:onMeetingDeleted, everyone else meeting:onMeetingUpdated, all with one event id.

  Mode: change
  KEYS[1]: the meeting hash
  KEYS[2]: the room or prop hash it moves to (no move: KEYS[1] again, not read); when
           that is where it is and it is gone, the meeting stays as it is
  KEYS[3]: the hash of the room it moves to, for its network (no move: KEYS[1], not read)
  ARGV[1]: meeting id   ARGV[2]: caller id
  ARGV[3]: new start minute or ""   ARGV[4]: new end minute or ""
  ARGV[5]: new participant ids, JSON (organizer first), or "" to keep them
  ARGV[6]: longest allowed meeting, minutes   ARGV[7]: most invitees allowed
  ARGV[8..11]: new source type, pk, room id, source string ("" type: no move)
  ARGV[12..]: stored field/JSON-value pairs to replace
  Returns: {0, meeting JSON} | {400|403|404, message} | {300, message}: the meeting is a
    series, which update_series.lua changes (the caller retries there; nothing written)
]]
--- @include "keys"
--- @include "sets"
--- @include "fields"
--- @include "busy"
--- @include "series"
--- @include "meeting_json"
--- @include "users"

local mid, caller = ARGV[1], ARGV[2]
local longest, most_invitees = tonumber(ARGV[6]), tonumber(ARGV[7])
local new_stype, new_spk, new_sroom, new_src = ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local mkey = KEYS[1]

if redis.call('EXISTS', mkey) == 0 then return fail(404, 'meeting ' .. mid .. ' not found') end
local cur = redis.call('HMGET', mkey, 'org', 'pids', 'start', 'end', 'src')
local organizer, old_pids = cur[1], decode_pids(cur[2])
if not contains(old_pids, caller) then return fail(404, 'meeting ' .. mid .. ' not found') end
if is_series(mkey) then return fail(300, 'meeting ' .. mid .. ' is a series') end

local old_start, old_end = tonumber(cur[3]), tonumber(cur[4])
local new_start = ARGV[3] ~= '' and tonumber(ARGV[3]) or old_start
local new_end = ARGV[4] ~= '' and tonumber(ARGV[4]) or old_end
if new_end <= new_start then return fail(400, 'endDate must be after startDate') end
if new_end - new_start > longest then
  return fail(400, 'a meeting may last at most ' .. longest .. ' minutes')
end

local pids = old_pids
if ARGV[5] ~= '' then
  pids = decode_pids(ARGV[5])
  -- the other user of a direct meeting stays invited whatever the new list says (while
  -- still in it: once erased, the meeting never names them again, even if re-created)
  local stype, spk = unpack(redis.call('HMGET', mkey, 'stype', 'spk'))
  if stype == 'direct' and contains(old_pids, spk) and not contains(pids, spk) then
    table.insert(pids, 2, spk)
    if #pids - 1 > most_invitees then
      return fail(400, 'at most ' .. most_invitees .. ' invitees (with ' .. spk .. ', who stays invited)')
    end
  end
  local newly, was_invited = {}, as_set(old_pids)
  for i = 2, #pids do
    if not was_invited[pids[i]] then newly[#newly + 1] = pids[i] end
  end
  local missing = missing_users(newly)
  if missing then return missing end
end

local new_network
if new_stype ~= '' then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    new_network = redis.call('HGET', KEYS[3], 'networkId') or ''
  elseif new_src == cur[5] then
    new_stype = '' -- placed where it is, which is gone: it stays as it is
  elseif new_stype == 'prop' then
    return fail(404, 'prop ' .. new_sroom .. '/' .. new_spk .. ' not found')
  else
    return fail(404, 'room ' .. new_sroom .. ' not found')
  end
end
-- Permission last: 400 (shape), then 404 (existence), then 403 (contract 3).
if caller ~= organizer then return fail(403, 'only the organizer may change meeting ' .. mid) end

-- All checks passed: write. Index and busy entries change only for the participants whose
-- entry moves (new times, added, removed), so that a change of subject invalidates nobody's
-- cached busy time.
local times_changed = new_start ~= old_start or new_end ~= old_end
local added, removed, kept = split_participants(old_pids, pids)
-- A rejectConflicts check of this meeting read its participants, and guards its write with
-- their busy versions: a new participant list moves the organizer's, so that a check made
-- before it is made again (else a move checked for the old list could book a new invitee
-- twice: contract 10).
if #added > 0 or #removed > 0 then busy_changed(organizer) end
local is_in = as_set(pids)
for _, uid in ipairs(old_pids) do
  if times_changed or not is_in[uid] then busy_remove(uid, mid, old_start, old_end) end
end
for _, uid in ipairs(removed) do
  redis.call('ZREM', k_user_meetings(uid), mid)
  redis.call('HDEL', mkey, 's:' .. uid)
end
if times_changed then
  redis.call('HSET', mkey, 'start', new_start, 'end', new_end)
  set_statuses(mkey, pids, 2, 'received')
else
  set_statuses(mkey, added, 1, 'received')
end
for _, uid in ipairs(times_changed and pids or added) do
  redis.call('ZADD', k_user_meetings(uid), new_start, mid)
  if uid == organizer or redis.call('HGET', mkey, 's:' .. uid) ~= 'declined' then
    busy_add(uid, mid, new_start, new_end)
  end
end

local src = cur[5]
-- Placed anew, also where it is: a meeting of a room or prop deleted and made again is
-- valid again (docs/protocol.md), with the network as it is now.
if new_stype ~= '' then
  if new_src ~= src then redis.call('ZREM', k_source(src), mid) end
  src = new_src
  redis.call('HSET', mkey, 'stype', new_stype, 'spk', new_spk, 'sroom', new_sroom, 'src', new_src,
    'net', new_network, 'valid', '1')
end
if redis.call('HGET', mkey, 'valid') == '1' then redis.call('ZADD', k_source(src), new_end, mid) end
redis.call('HSET', mkey, 'pids', cjson.encode(pids), 'j:updated', '"' .. NOW_ISO .. '"')
set_fields(mkey, 12, (#ARGV - 11) / 2)

local event_id = next_event_id()
local json = meeting_json(mkey)
local data = meeting_data(json)
local created = push_frame('meeting:onMeetingCreated', event_id, data)
local updated = push_frame('meeting:onMeetingUpdated', event_id, data)
local deleted = push_frame('meeting:onMeetingDeleted', event_id, deleted_data(mid))
emit(added, event_id, created)
emit(kept, event_id, updated)
emit(removed, event_id, deleted)
return {0, json}
