--[[
  The meeting object as the API shows it, built from a meeting hash: the JSON fields it
  keeps ready-encoded ("j:<name>"), plus live fields (isValid, networkId, participants).
  Built by concatenation, so that one event frame is byte-identical for every recipient
  (cjson would also turn [] into {}).
]]
-- The hash fields of the meeting object's stored JSON values, in the order it shows them
-- (written out: building them with .. costs a new string each, on every run).
local MEETING_FIELDS = {'j:meetingId', 'j:created', 'j:updated', 'j:subject', 'j:description',
  'j:color', 'j:organizerId', 'j:sourceString', 'j:sourceType', 'j:sourcePk', 'j:startDate',
  'j:endDate'}

local function decode_pids(text) return cjson.decode(text) end

local function status_of(mkey, organizer, uid)
  if uid == organizer then return 'accepted' end
  return redis.call('HGET', mkey, 's:' .. uid) or 'received'
end

-- A string as JSON, byte for byte as cjson.encode writes it; without cjson for the usual
-- string that needs no escape. storage/meetings.py quotes ids the same way.
local function json_quote(text)
  if string.find(text, '[%c"\\/]') then return cjson.encode(text) end
  return '"' .. text .. '"'
end

-- `values` are the stored JSON values in MEETING_FIELDS order, `statuses[i]` the status of
-- pids[i] (nil: received), `recurrence` a series' stored recurrence JSON (nil for a single
-- meeting). storage/meetings.py builds a new meeting's the same way (new_meeting_json).
local function build_meeting_json(values, valid, network, pids, organizer, statuses, recurrence)
  local parts = {}
  for i, name in ipairs(MEETING_FIELDS) do
    parts[i] = '"' .. string.sub(name, 3) .. '":' .. values[i]
  end
  local quoted, people = {}, {}
  for i, uid in ipairs(pids) do
    quoted[i] = json_quote(uid)
    local status = uid == organizer and 'accepted' or statuses[i] or 'received'
    people[i] = '{"userId":' .. quoted[i] .. ',"status":"' .. status .. '"}'
  end
  parts[#parts + 1] = '"isValid":' .. (valid and 'true' or 'false')
  parts[#parts + 1] = '"networkId":' .. json_quote(network)
  parts[#parts + 1] = '"participantIds":[' .. table.concat(quoted, ',') .. ']'
  parts[#parts + 1] = '"participants":[' .. table.concat(people, ',') .. ']'
  if recurrence then parts[#parts + 1] = '"recurrence":' .. recurrence end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function meeting_json(mkey)
  local values = redis.call('HMGET', mkey, unpack(MEETING_FIELDS))
  local live = redis.call('HMGET', mkey, 'valid', 'net', 'pids', 'org', 'j:recurrence')
  local pids = decode_pids(live[3])
  local status_fields = {}
  for i, uid in ipairs(pids) do status_fields[i] = 's:' .. uid end
  local statuses = redis.call('HMGET', mkey, unpack(status_fields))
  return build_meeting_json(values, live[1] == '1', live[2] or '', pids, live[4], statuses, live[5] or nil)
end

-- The data of a created / updated event, from the meeting's JSON.
local function meeting_data(json) return '{"meeting":' .. json .. '}' end

local function deleted_data(mid) return '{"meetingId":' .. json_quote(mid) .. '}' end
