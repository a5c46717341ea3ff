--[[
  The meeting object as the API shows it, built from a meeting hash: the JSON fields it
  keeps ready-encoded ("j:<name>"), plus live fields (isValid, networkId, participants).
  Built by concatenation, so that one event frame is byte-identical for every recipient
  (cjson would also turn [] into {}).
]]
local MEETING_FIELDS = {'meetingId', 'created', 'updated', 'subject', 'description', 'color',
  'organizerId', 'sourceString', 'sourceType', 'sourcePk', 'startDate', 'endDate'}

local function decode_pids(text) return cjson.decode(text) end

local function status_of(mkey, organizer, uid)
  if uid == organizer then return 'accepted' end
  return redis.call('HGET', mkey, 's:' .. uid) or 'received'
end

-- `values` are the stored JSON values in MEETING_FIELDS order, `statuses[i]` the status of
-- pids[i] (nil: received), `recurrence` a series' stored recurrence JSON (nil for a single
-- meeting).
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
