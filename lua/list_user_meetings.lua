--[[
  The caller's meetings overlapping [from, to), ordered by start, optionally filtered by
  source, each with the caller's userId and status.

  Mode: read
  KEYS[1]: the caller's meeting index (sorted set scored by start minute)
  KEYS[2]: the caller's series index
  ARGV[1]: caller id   ARGV[2]: from minute   ARGV[3]: to minute (exclusive)
  ARGV[4]: longest meeting, minutes (how far before `from` an overlapping meeting can start)
  ARGV[5]: filter: "" | network | room | prop | group | direct   ARGV[6], ARGV[7]: its ids
  ARGV[8]: at most this many meetings
  ARGV[9]: at most this many bytes of single meetings' JSON (0: no limit): the single
    meeting that passes it is the last one read (--max-answer-bytes: a page past it is
    refused, unless series instances fill it before that meeting; service/series.py)
  ARGV[10]: "1": each series state holds only what its instances in [from, to) need
    (series_state in includes/series.lua); "": whole states
  Returns: {0, has_more (0|1), {meeting JSON...}, {{series JSON, series state}...}, cut
    (0|1)}: the single meetings, the caller's series that may have instances in the range
    (with the same filter), which storage/series.py expands for the range, and whether
    the single meetings stop where their JSON passed ARGV[9] (later ones are not read)
]]
--- @include "keys"
--- @include "sets"
--- @include "series"
--- @include "meeting_json"

local caller, from_min, to_min = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local longest, filter, a, b, limit = tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
local max_bytes = tonumber(ARGV[9])
local quoted_caller = cjson.encode(caller)
-- Participants are read only for the direct filter (a field no hash has reads as nil).
local DIRECT_PIDS = filter == 'direct' and 'pids' or 'no such field'

local function matches(f)
  -- f: end, net, stype, spk, sroom, org, src
  if not ends_after(f[1], from_min) then return false end
  if filter == '' then return true end
  if filter == 'network' then return f[2] == a end
  if filter == 'room' then return f[5] == a end
  if filter == 'prop' then return f[7] == 'prop:' .. a .. ':' .. b end
  if filter == 'group' then return f[7] == 'group:' .. a end
  if filter == 'direct' then
    -- between the caller and `a` while both take part: the other user, once erased, is
    -- out of it for good (a user re-created with that id has no part in it)
    return f[3] == 'direct' and ((f[6] == caller and f[4] == a) or (f[6] == a and f[4] == caller))
      and f[8] and contains(decode_pids(f[8]), a)
  end
  return false
end

local singles, has_more, size, cut = {}, 0, 0, 0
local mids = redis.call('ZRANGEBYSCORE', KEYS[1], from_min - longest, '(' .. to_min)
for _, mid in ipairs(mids) do
  local mkey = k_meeting(mid)
  local f = redis.call('HMGET', mkey, 'end', 'net', 'stype', 'spk', 'sroom', 'org', 'src', DIRECT_PIDS)
  if f[1] and matches(f) then
    if #singles >= limit then
      has_more = 1
      break
    end
    local json = '{"userId":' .. quoted_caller .. ',"status":"' .. status_of(mkey, f[6], caller)
      .. '",' .. string.sub(meeting_json(mkey), 2)
    singles[#singles + 1] = json
    size = size + #json
    if max_bytes > 0 and size > max_bytes then
      cut = 1
      break
    end
  end
end
local series = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. to_min)) do
  local mkey = k_meeting(sid)
  local f = redis.call('HMGET', mkey, 'hi', 'net', 'stype', 'spk', 'sroom', 'org', 'src', DIRECT_PIDS)
  if f[1] and matches(f) then
    local state = ARGV[10] == '1' and series_state(sid, nil, from_min, to_min) or series_state(sid)
    series[#series + 1] = {meeting_json(mkey), state}
  end
end
return {0, has_more, singles, series, cut}
