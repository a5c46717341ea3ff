--[[
  Events: ids, frames, and their delivery to each recipient's stream and to the instances.

  Event ids are "<ms>-<seq>" from the tenant's one counter, always above the last one
  handed out, so one change gets one id for all its recipients and the id orders every
  user's stream. Outside the tenant `default`, seq carries the tenant's code:
  seq = code * 2^20 + n, n counting within the millisecond (roomful_meetings/protocol/
  event_ids.py computes the same code), so that two tenants' events of one millisecond
  never share an id and a `since=` of another tenant's id is unknown, not a match.

  Each recipient's stream keeps the frame; then the event goes, once, with its recipients,
  to the tenant's events channel: "<event id>\n<recipient ids, JSON>\n<frame>" (PUBLISH, or
  SPUBLISH on a cluster: PUBLISH_COMMAND, set by the loader). Each instance subscribed to
  the channel hands it to the connections it holds (roomful_meetings/fanout/hub.py). When
  changes must reach replicas before anyone sees them (--redis-min-replicas: HOLD_EVENTS,
  set by the loader), the message is held in the tenant's outbox instead, in id order, and
  published by lua/release_events.lua once the server's WAIT says the replicas have it;
  `released` marks how far that went, so that replays show nothing held (storage/events.py).

  A frame for several recipients is stored once, under ev:<event id>:<variant> (one script
  may emit up to three frames with one id), and their stream entries point to it ("r" =
  variant): a 100-person meeting's event is then written once, not 100 times. A frame for
  one recipient sits in the entry itself ("f" = frame). The frame outlives the 24-hour
  replay window by an hour. Trimming is approximate ("~"): exact trimming costs more per
  call, and readers show only the newest EVENTS_KEPT.
]]
--- @include "keys"

-- As strings: Redis formats a number argument with snprintf on every call (5 % of a create).
local EVENTS_KEPT = '1000'
local EVENTS_TTL_MS = '86400000' -- 24 hours
local FRAME_TTL_MS = '90000000' -- 25 hours
local FRAMES_STORED = 0
-- The newest id this script handed out (the loader's epilogue returns it when events are held).
local LAST_EVENT_ID = nil

local SEQ_SPAN = 1048576 -- 2^20 ids per millisecond and tenant; code * SEQ_SPAN < 2^53

-- 0 for `default` (its ids as they always were), else 1 + the first 32 bits of the
-- SHA-1 of the tenant's name, which PREFIX ends with as its hash tag: "...{<tenant>}:".
local function tenant_code()
  local tenant = string.match(PREFIX, '{([^{}]*)}:$')
  if tenant == nil or tenant == 'default' then return 0 end
  return tonumber(string.sub(redis.sha1hex(tenant), 1, 8), 16) + 1
end

local function next_event_id()
  local last = redis.call('GET', k_event_seq())
  if HOLD_EVENTS and LAST_EVENT_ID == nil then
    -- Everything before the first held event was published as it happened.
    redis.call('SET', k_released(), last or '0-0', 'NX')
  end
  local first = tenant_code() * SEQ_SPAN
  local ms, seq = NOW_MS, first
  if last then
    local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
    lms, lseq = tonumber(lms), tonumber(lseq)
    -- (an id of the release before codes, in this millisecond, is below `first`)
    if lms >= ms then ms, seq = lms, math.max(lseq + 1, first) end
    if seq >= first + SEQ_SPAN then ms, seq = ms + 1, first end
  end
  local id = string.format('%.0f-%.0f', ms, seq)
  redis.call('SET', k_event_seq(), id)
  LAST_EVENT_ID = id
  return id
end

local function push_frame(endpoint, event_id, data_json)
  return '{"endpoint":"' .. endpoint .. '","event":{"id":"' .. event_id .. '","date":"' .. NOW_ISO
    .. '"},"data":' .. data_json .. ',"error":{"status":false,"code":0,"message":""}}'
end

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
  local message = event_id .. '\n' .. cjson.encode(uids) .. '\n' .. frame
  if HOLD_EVENTS then
    redis.call('RPUSH', k_outbox(), message)
  else
    redis.call(PUBLISH_COMMAND, channel_events(), message)
  end
end

local function emit_to_all(pids, endpoint, data_json)
  local event_id = next_event_id()
  emit(pids, event_id, push_frame(endpoint, event_id, data_json))
  return event_id
end
