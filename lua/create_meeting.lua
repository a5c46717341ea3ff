--[[
  Create a meeting: check its source, group membership and invitees, write the meeting,
  index it for every participant and its source, and emit meeting:onMeetingCreated to all.

  Mode: change
  KEYS[1]: the new meeting hash   KEYS[2]: the source's catalog hash (room, prop, group, or
  the other user of a direct meeting)   KEYS[3]: the source's meeting index
  KEYS[4]: the hash the source's network is read from (the room of a room or prop source,
  the group; for a direct meeting, KEYS[2] again: not read)
  KEYS[5]: the set the organizer must belong to (a group's members; else KEYS[3]: not read)
  ARGV[1]: meeting id   ARGV[2]: organizer id   ARGV[3]: source type   ARGV[4]: source pk
  ARGV[5]: room id of a room/prop source, else ""   ARGV[6]: source string
  ARGV[7]: start minute   ARGV[8]: end minute   ARGV[9]: participant ids, JSON (organizer first)
  ARGV[10]: the meeting object's JSON up to the networkId value, ARGV[11]: the rest of it
    (storage/meetings.py builds both from what it stores: the script only knows the network)
  ARGV[12..]: stored field/JSON-value pairs ("j:subject", "\"Weekly\"", ...); a series
    (contract 9) also has "rule", "tz", "len", "lo" (earliest start), "hi" (latest end or
    "inf") and "j:recurrence": it is indexed in each participant's series index instead of
    the meetings and busy indexes, and gets a version ("ver")
  Returns: {0, meeting JSON} | {404, message} | {403, message} | {409, message}
]]
--- @include "keys"
--- @include "busy"
--- @include "meeting_json"
--- @include "users"
--- @include "sources"

local mid, organizer, stype, spk, sroom = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local source_string, start_min, end_min = ARGV[6], ARGV[7], ARGV[8]
local pids = decode_pids(ARGV[9])

if redis.call('EXISTS', KEYS[1]) == 1 then return fail(409, 'meeting ' .. mid .. ' already exists') end
-- Permission after existence (contract 3).
local refused = missing_source(KEYS[2], stype, spk, sroom) or missing_users(own_list(pids, 2, #pids))
  or not_member(KEYS[5], stype, organizer, spk)
if refused then return refused end

local network = ''
if stype ~= 'direct' then network = redis.call('HGET', KEYS[4], 'networkId') or '' end

local given = {}
for j = 12, #ARGV - 1, 2 do given[ARGV[j]] = ARGV[j + 1] end
-- The whole hash in one HSET: each HSET call costs about as much as the fields it writes.
local fields = {'org', organizer, 'pids', ARGV[9], 'start', start_min, 'end', end_min, 'stype', stype,
  'spk', spk, 'sroom', sroom, 'src', source_string, 'net', network, 'valid', '1', unpack(ARGV, 12)}
for i = 2, #pids do
  fields[#fields + 1] = 's:' .. pids[i]
  fields[#fields + 1] = 'received'
end
if given['rule'] then
  fields[#fields + 1] = 'ver'
  fields[#fields + 1] = change_version()
end
redis.call('HSET', KEYS[1], unpack(fields))
if given['rule'] then
  for _, uid in ipairs(pids) do
    redis.call('ZADD', k_user_series(uid), given['lo'], mid)
    busy_changed(uid)
  end
  redis.call('ZADD', KEYS[3], given['hi'] == 'inf' and '+inf' or given['hi'], mid)
else
  for _, uid in ipairs(pids) do
    redis.call('ZADD', k_user_meetings(uid), start_min, mid)
    busy_add(uid, mid, start_min, end_min)
  end
  redis.call('ZADD', KEYS[3], end_min, mid)
end

-- Built by the server, but for the network: everything it shows was just written.
local json = ARGV[10] .. json_quote(network) .. ARGV[11]
emit_to_all(pids, 'meeting:onMeetingCreated', meeting_data(json))
return {0, json}
