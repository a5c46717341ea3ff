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

-- The JSON key of each of MEETING_FIELDS, with what comes before it.
local FIELD_KEYS = {'{"meetingId":', ',"created":', ',"updated":', ',"subject":', ',"description":',
  ',"color":', ',"organizerId":', ',"sourceString":', ',"sourceType":', ',"sourcePk":',
  ',"startDate":', ',"endDate":'}

-- A string as JSON, byte for byte as cjson.encode writes it; without cjson for the usual
-- string that needs no escape (cjson.encode costs more than the rest of the quoting).
local function json_quote(text)
  if string.find(text, '[%c"\\/]') then return cjson.encode(text) end
  return '"' .. text .. '"'
end

-- `values` are the stored JSON values in MEETING_FIELDS order, `statuses[i]` the status of
-- pids[i] (nil: received), `recurrence` a series' stored recurrence JSON (nil for a single
-- meeting). Pieces go into one list joined once: every concatenation would make a string.
local function build_meeting_json(values, valid, network, pids, organizer, statuses, recurrence)
  local out, n = {}, 0
  for i, key in ipairs(FIELD_KEYS) do
    out[n + 1], out[n + 2], n = key, values[i], n + 2
  end
  out[n + 1] = valid and ',"isValid":true,"networkId":' or ',"isValid":false,"networkId":'
  out[n + 2], out[n + 3], n = json_quote(network), ',"participantIds":[', n + 3
  local quoted = {}
  for i, uid in ipairs(pids) do
    quoted[i] = json_quote(uid)
    out[n + 1], out[n + 2], n = quoted[i], ',', n + 2
  end
  if #pids > 0 then n = n - 1 end
  out[n + 1], n = '],"participants":[', n + 1
  for i, uid in ipairs(pids) do
    local status = uid == organizer and 'accepted' or statuses[i] or 'received'
    out[n + 1], out[n + 2], out[n + 3], out[n + 4], n = '{"userId":', quoted[i], ',"status":"', status, n + 4
    out[n + 1], n = '"},', n + 1
  end
  if #pids > 0 then out[n] = '"}' end
  out[n + 1], n = ']', n + 1
  if recurrence then out[n + 1], out[n + 2], n = ',"recurrence":', recurrence, n + 2 end
  out[n + 1] = '}'
  return table.concat(out)
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
