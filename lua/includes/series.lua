--[[
  A series (contract 9) is one meeting hash with a `rule`; its participants index it in
  u:<id>:series, not in the meetings and busy indexes, and its instances' own changes live
  in m:<id>:x. Readers expand it in Python; every change bumps `ver` and busy versions.
]]
--- @include "keys"
--- @include "sets"
--- @include "meeting_json"

local function is_series(mkey) return redis.call('HEXISTS', mkey, 'rule') == 1 end

-- What storage/series.py needs to expand a series: {sid, ver, rule, zone, first start,
-- length, organizer, participant ids JSON, {series status of each participant}, instance
-- hash as a flat list, the wall time the rule runs from when not the start's own, or ""}.
local function series_state(sid)
  local mkey = k_meeting(sid)
  local f = redis.call('HMGET', mkey, 'ver', 'rule', 'tz', 'start', 'len', 'org', 'pids', 'wall')
  local fields = {}
  for i, uid in ipairs(decode_pids(f[7])) do fields[i] = 's:' .. uid end
  return {sid, f[1], f[2], f[3], f[4], f[5], f[6], f[7], redis.call('HMGET', mkey, unpack(fields)),
    redis.call('HGETALL', k_series_instances(sid)), f[8] or ''}
end

-- The series index score of an end: "inf" for a series that never ends.
local function end_score(hi) return hi == 'inf' and '+inf' or hi end
local function ends_after(hi, minute) return hi == 'inf' or tonumber(hi) > minute end

-- Drop what a series' instance hash holds for users no longer invited (s:<minute>:<uid>).
local function forget_instance_statuses(xkey, uids)
  if #uids == 0 then return end
  local gone = as_set(uids)
  for _, field in ipairs(redis.call('HKEYS', xkey)) do
    local uid = string.match(field, '^s:%d+:(.*)$')
    if uid and gone[uid] then redis.call('HDEL', xkey, field) end
  end
end
