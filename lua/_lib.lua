--[[
  Shared helpers, prepended by the loader to every script in this folder.

  Every script receives, before its own arguments:
    ARGV[1]  key prefix (all keys and channels start with it)
    ARGV[2]  now, milliseconds since the Unix epoch (from the calling server)
    ARGV[3]  now as an RFC 3339 UTC string (the date of events this script emits)
  Keys that a script can only know from data it reads (the participants of a meeting) are
  built here from the prefix, mirroring roomful_meetings/storage/keys.py. This ties the
  scripts to a single Redis shard.

  Event ids are "<ms>-<seq>" from one counter, always above the last one handed out, so one
  change gets one id for all its recipients and the id orders every user's stream.
]]
local PREFIX = ARGV[1]
local NOW_MS = tonumber(ARGV[2])
local NOW_ISO = ARGV[3]
local EVENTS_KEPT = 1000
local EVENTS_TTL_MS = 24 * 3600 * 1000

local function k_user(uid) return PREFIX .. 'u:' .. uid end
local function k_user_meetings(uid) return PREFIX .. 'u:' .. uid .. ':meetings' end
local function k_user_groups(uid) return PREFIX .. 'u:' .. uid .. ':groups' end
local function k_user_events(uid) return PREFIX .. 'u:' .. uid .. ':events' end
local function k_event_frame(event_id, variant) return PREFIX .. 'ev:' .. event_id .. ':' .. variant end
local function k_user_pattern(uid) return PREFIX .. 'u:' .. uid .. ':pattern' end
local function k_user_days(uid) return PREFIX .. 'u:' .. uid .. ':days' end
local function k_user_busy(uid) return PREFIX .. 'u:' .. uid .. ':busy' end
local function k_email(email_key) return PREFIX .. 'email:' .. email_key end
local function k_room(rid) return PREFIX .. 'room:' .. rid end
local function k_room_props(rid) return PREFIX .. 'room:' .. rid .. ':props' end
local function k_room_sessions(rid) return PREFIX .. 'room:' .. rid .. ':sessions' end
local function k_prop(rid, pid) return PREFIX .. 'prop:' .. rid .. ':' .. pid end
local function k_prop_sessions(rid, pid) return PREFIX .. 'prop:' .. rid .. ':' .. pid .. ':sessions' end
local function k_group(gid) return PREFIX .. 'group:' .. gid end
local function k_group_members(gid) return PREFIX .. 'group:' .. gid .. ':members' end
local function k_session(sid) return PREFIX .. 'ss:' .. sid end
local function k_meeting(mid) return PREFIX .. 'm:' .. mid end
local function k_user_series(uid) return PREFIX .. 'u:' .. uid .. ':series' end
local function k_user_feed(uid) return PREFIX .. 'u:' .. uid .. ':feed' end
local function k_feed_token(token_hash) return PREFIX .. 'feed:' .. token_hash end
local function k_series_instances(sid) return PREFIX .. 'm:' .. sid .. ':x' end
local function k_source(source_string) return PREFIX .. 'src:' .. source_string end
local function k_event_seq() return PREFIX .. 'eventseq' end
local function k_versions() return PREFIX .. 'versions' end
local function k_busy_versions() return PREFIX .. 'busyversions' end
local function channel_events() return PREFIX .. 'events' end

local function fail(code, message) return {code, message} end

local function next_event_id()
  local last = redis.call('GET', k_event_seq())
  local ms, seq = NOW_MS, 0
  if last then
    local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
    lms, lseq = tonumber(lms), tonumber(lseq)
    if lms >= ms then ms, seq = lms, lseq + 1 end
  end
  local id = string.format('%.0f-%.0f', ms, seq)
  redis.call('SET', k_event_seq(), id)
  return id
end

local function push_frame(endpoint, event_id, data_json)
  return '{"endpoint":"' .. endpoint .. '","event":{"id":"' .. event_id .. '","date":"' .. NOW_ISO
    .. '"},"data":' .. data_json .. ',"error":{"status":false,"code":0,"message":""}}'
end

-- Retain the frame for each recipient, then publish it once, with the recipients, on the
-- events channel: "<event id>\n<recipient ids, JSON>\n<frame>". Each instance hands it to
-- the connections it holds (roomful_meetings/fanout/hub.py).
-- A frame for several recipients is stored once, under ev:<event id>:<variant> (one script
-- may emit up to three frames with one id), and their stream entries point to it
-- ("r" = variant): a 100-person meeting's event is then written once, not 100 times. A
-- frame for one recipient sits in the entry itself ("f" = frame). The frame outlives the
-- 24-hour replay window by an hour. Trimming is approximate ("~"): exact trimming costs more
-- per call, and readers show only the newest EVENTS_KEPT.
local FRAME_TTL_MS = EVENTS_TTL_MS + 3600 * 1000
local FRAMES_STORED = 0
local function emit(uids, event_id, frame)
  if #uids == 0 then return end
  local field, value = 'f', frame
  if #uids > 1 then
    FRAMES_STORED = FRAMES_STORED + 1
    field, value = 'r', tostring(FRAMES_STORED)
    redis.call('SET', k_event_frame(event_id, value), frame, 'PX', FRAME_TTL_MS)
  end
  for _, uid in ipairs(uids) do
    local stream = k_user_events(uid)
    redis.call('XADD', stream, 'MAXLEN', '~', EVENTS_KEPT, event_id, field, value)
    redis.call('PEXPIRE', stream, EVENTS_TTL_MS)
  end
  redis.call('PUBLISH', channel_events(), event_id .. '\n' .. cjson.encode(uids) .. '\n' .. frame)
end

-- The JSON fields a meeting keeps as ready-encoded values ("j:<name>" in its hash), in the
-- order they are written out; the rest of the object is built here from live fields.
local MEETING_FIELDS = {'meetingId', 'created', 'updated', 'subject', 'description', 'color',
  'organizerId', 'sourceString', 'sourceType', 'sourcePk', 'startDate', 'endDate'}

local function decode_pids(text) return cjson.decode(text) end

local function status_of(mkey, organizer, uid)
  if uid == organizer then return 'accepted' end
  return redis.call('HGET', mkey, 's:' .. uid) or 'received'
end

-- The meeting object as the API shows it, from its parts: `values` are the stored JSON
-- values in MEETING_FIELDS order, `statuses[i]` the status of pids[i] (nil: received),
-- `recurrence` a series' stored recurrence JSON (nil for a single meeting).
local function build_meeting_json(values, valid, network, pids, organizer, statuses, recurrence)
  local parts = {}
  for i, name in ipairs(MEETING_FIELDS) do
    parts[#parts + 1] = '"' .. name .. '":' .. values[i]
  end
  local quoted, people = {}, {}
  for i, uid in ipairs(pids) do
    quoted[i] = cjson.encode(uid)
    local status = uid == organizer and 'accepted' or statuses[i] or 'received'
    people[i] = '{"userId":' .. quoted[i] .. ',"status":"' .. status .. '"}'
  end
  parts[#parts + 1] = '"isValid":' .. (valid and 'true' or 'false')
  parts[#parts + 1] = '"networkId":' .. cjson.encode(network)
  parts[#parts + 1] = '"participantIds":[' .. table.concat(quoted, ',') .. ']'
  parts[#parts + 1] = '"participants":[' .. table.concat(people, ',') .. ']'
  if recurrence then parts[#parts + 1] = '"recurrence":' .. recurrence end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- The meeting object as the API shows it: stored fields + isValid, networkId, participants.
local function meeting_json(mkey)
  local names = {}
  for i, name in ipairs(MEETING_FIELDS) do names[i] = 'j:' .. name end
  local values = redis.call('HMGET', mkey, unpack(names))
  local live = redis.call('HMGET', mkey, 'valid', 'net', 'pids', 'org', 'j:recurrence')
  local pids = decode_pids(live[3])
  local status_fields = {}
  for i, uid in ipairs(pids) do status_fields[i] = 's:' .. uid end
  local statuses = redis.call('HMGET', mkey, unpack(status_fields))
  return build_meeting_json(values, live[1] == '1', live[2] or '', pids, live[4], statuses, live[5] or nil)
end

-- The data of a created / updated event, from the meeting's JSON.
local function meeting_data(json) return '{"meeting":' .. json .. '}' end

local function deleted_data(mid) return '{"meetingId":' .. cjson.encode(mid) .. '}' end

local function emit_to_all(pids, endpoint, data_json)
  local event_id = next_event_id()
  emit(pids, event_id, push_frame(endpoint, event_id, data_json))
  return event_id
end

-- Mark every meeting of a deleted source invalid and tell its participants.
local function invalidate_source(source_string)
  local skey = k_source(source_string)
  local mids = redis.call('ZRANGE', skey, 0, -1)
  for _, mid in ipairs(mids) do
    local mkey = k_meeting(mid)
    if redis.call('HGET', mkey, 'valid') == '1' then
      redis.call('HSET', mkey, 'valid', '0', 'j:updated', '"' .. NOW_ISO .. '"')
      emit_to_all(decode_pids(redis.call('HGET', mkey, 'pids')), 'meeting:onMeetingUpdated',
        meeting_data(meeting_json(mkey)))
    end
  end
  redis.call('DEL', skey)
end

local function as_set(list)
  local set = {}
  for _, item in ipairs(list) do set[item] = true end
  return set
end

local function contains(list, value)
  for _, item in ipairs(list) do if item == value then return true end end
  return false
end

-- Who is added, removed and kept when a meeting's participants go from `old` to `new`.
local function split_participants(old, new)
  local was_in, is_in = as_set(old), as_set(new)
  local added, removed, kept = {}, {}, {}
  for _, uid in ipairs(new) do
    if was_in[uid] then kept[#kept + 1] = uid else added[#added + 1] = uid end
  end
  for _, uid in ipairs(old) do
    if not is_in[uid] then removed[#removed + 1] = uid end
  end
  return added, removed, kept
end

-- The added invitees that have no profile, as a 404 reply (nil when all exist).
local function missing_users(added)
  local missing = {}
  for _, uid in ipairs(added) do
    if redis.call('EXISTS', k_user(uid)) == 0 then missing[#missing + 1] = uid end
  end
  if #missing > 0 then return fail(404, 'invited users not found: ' .. table.concat(missing, ', ')) end
  return nil
end

-- Drop what a series' instance hash holds for users no longer invited (s:<minute>:<uid>).
local function forget_instance_statuses(xkey, uids)
  if #uids == 0 then return end
  local gone = as_set(uids)
  for _, field in ipairs(redis.call('HKEYS', xkey)) do
    local uid = string.match(field, '^s:%d+:(.*)$')
    if uid and gone[uid] then redis.call('HDEL', xkey, field) end
  end
end

-- Busy index: for each user, the meetings they organize or have not declined, scored by
-- start minute, member "<meetingId>:<start minute>:<end minute>", so a slot search reads
-- busy time with one range query per user and no scores.
local function busy_member(mid, start_min, end_min)
  return mid .. ':' .. string.format('%d', start_min) .. ':' .. string.format('%d', end_min)
end

-- Readers cache what they read by version: every change takes a new one from a single
-- counter (so a deleted and re-created user never repeats an old one). Busy versions live
-- in one hash, user id -> version, because an invitee need not have a profile.
local CHANGE_VERSION = nil
local function change_version()
  CHANGE_VERSION = CHANGE_VERSION or redis.call('INCR', k_versions())
  return CHANGE_VERSION
end

-- Written once, at the end of the script (finish), however many users changed.
local BUSY_CHANGED = {}
local function busy_changed(uid)
  BUSY_CHANGED[#BUSY_CHANGED + 1] = uid
  BUSY_CHANGED[#BUSY_CHANGED + 1] = change_version()
end

local function busy_add(uid, mid, start_min, end_min)
  if redis.call('ZADD', k_user_busy(uid), start_min, busy_member(mid, start_min, end_min)) == 1 then
    busy_changed(uid)
  end
end

local function busy_remove(uid, mid, start_min, end_min)
  if redis.call('ZREM', k_user_busy(uid), busy_member(mid, start_min, end_min)) == 1 then
    busy_changed(uid)
  end
end

-- A series (contract 9) is one meeting hash with a `rule`; its participants index it in
-- u:<id>:series, not in the meetings and busy indexes, and its instances' own changes live
-- in m:<id>:x. Readers expand it in Python; every change bumps `ver` and busy versions.
local function is_series(mkey) return redis.call('HEXISTS', mkey, 'rule') == 1 end

-- What storage/series.py needs to expand a series: {sid, ver, rule, zone, first start,
-- length, organizer, participant ids JSON, {series status of each participant}, instance
-- hash as a flat list}.
local function series_state(sid)
  local mkey = k_meeting(sid)
  local f = redis.call('HMGET', mkey, 'ver', 'rule', 'tz', 'start', 'len', 'org', 'pids')
  local fields = {}
  for i, uid in ipairs(decode_pids(f[7])) do fields[i] = 's:' .. uid end
  return {sid, f[1], f[2], f[3], f[4], f[5], f[6], f[7], redis.call('HMGET', mkey, unpack(fields)),
    redis.call('HGETALL', k_series_instances(sid))}
end

-- The series index score of an end: "inf" for a series that never ends.
local function end_score(hi) return hi == 'inf' and '+inf' or hi end
local function ends_after(hi, minute) return hi == 'inf' or tonumber(hi) > minute end

-- Remove a meeting and every index entry of it. cur: HMGET of org, pids, src, start, end.
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

-- HSET, in one call, the `count` field/value pairs found in ARGV from index `first` on.
local function set_fields(key, first, count)
  if count < 1 then return end
  redis.call('HSET', key, unpack(ARGV, first, first + 2 * count - 1))
end

-- Set the RSVP status of every user in `uids` (from index `first` on), in one HSET.
local function set_statuses(mkey, uids, first, status)
  local pairs = {}
  for i = first, #uids do
    pairs[#pairs + 1] = 's:' .. uids[i]
    pairs[#pairs + 1] = status
  end
  if #pairs > 0 then redis.call('HSET', mkey, unpack(pairs)) end
end

-- Deferred writes, once per script, after its body ran (called by the loader's epilogue).
local function finish()
  if #BUSY_CHANGED > 0 then redis.call('HSET', k_busy_versions(), unpack(BUSY_CHANGED)) end
end
