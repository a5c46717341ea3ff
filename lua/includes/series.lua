--[[
  A series (contract 9) is one meeting hash with a `rule`; its participants index it in
  u:<id>:series, not in the meetings and busy indexes, and its instances' own changes live
  in m:<id>:x. Readers expand it in Python; every change bumps `ver` and busy versions.
]]
--- @include "keys"
--- @include "sets"
--- @include "meeting_json"

local function is_series(mkey) return redis.call('HEXISTS', mkey, 'rule') == 1 end

-- The fields of a series' instance hash (flat) that its instances overlapping [low, high)
-- need: overrides of instances whose original or current times overlap it, cancellations
-- and instance statuses of those and of the instances originally there. With a day's
-- margin either side: an extra field costs nothing but its bytes.
local function own_fields_within(xkey, length, low, high)
  local all = redis.call('HGETALL', xkey)
  local function near_window(start, finish) return start < high + 1440 and finish > low - 1440 end
  local near, out = {}, {}
  for i = 1, #all, 2 do
    local kind, orig = string.match(all[i], '^(%a):(%-?%d+)')
    orig = tonumber(orig)
    if orig and not near[orig] then
      local keep = near_window(orig, orig + length)
      if not keep and kind == 'o' then -- moved here from elsewhere?
        local start = tonumber(string.match(all[i + 1], '"start":(%-?%d+)'))
        local finish = tonumber(string.match(all[i + 1], '"end":(%-?%d+)'))
        keep = start ~= nil and finish ~= nil and near_window(start, finish)
      end
      near[orig] = keep or nil
    end
  end
  for i = 1, #all, 2 do
    local orig = tonumber(string.match(all[i], '^%a:(%-?%d+)'))
    if orig and near[orig] then out[#out + 1] = all[i]; out[#out + 1] = all[i + 1] end
  end
  return out
end

-- What storage/series.py needs to expand a series: {sid, ver, rule, zone, first start,
-- length, organizer, participant ids JSON, {series status of each participant}, instance
-- hash as a flat list, the wall time the rule runs from when not the start's own, or ""}.
-- Only part of the instance hash with `orig` (an instance's original start minute): that
-- instance's fields (o:, c:, s:<orig>:<each participant>); with `low` and `high` instead:
-- what the instances overlapping [low, high) need (own_fields_within). A read of one
-- instance or one window then does not ship the changes of the series' other instances.
local function series_state(sid, orig, low, high)
  local mkey, xkey = k_meeting(sid), k_series_instances(sid)
  local f = redis.call('HMGET', mkey, 'ver', 'rule', 'tz', 'start', 'len', 'org', 'pids', 'wall')
  local pids = decode_pids(f[7])
  local fields = {}
  for i, uid in ipairs(pids) do fields[i] = 's:' .. uid end
  local own
  if orig then
    local names = {'o:' .. orig, 'c:' .. orig}
    for _, uid in ipairs(pids) do names[#names + 1] = 's:' .. orig .. ':' .. uid end
    own = {}
    for i, value in ipairs(redis.call('HMGET', xkey, unpack(names))) do
      if value then own[#own + 1] = names[i]; own[#own + 1] = value end
    end
  elseif low then
    own = own_fields_within(xkey, tonumber(f[5]), low, high)
  else
    own = redis.call('HGETALL', xkey)
  end
  return {sid, f[1], f[2], f[3], f[4], f[5], f[6], f[7], redis.call('HMGET', mkey, unpack(fields)),
    own, f[8] or ''}
end

-- Whether an override's JSON gives the instance fields of its own (subject, description,
-- colour: the large ones). Inside the JSON's strings a quote is escaped, so only keys match.
local function has_content(json)
  if not json then return false end
  return string.find(json, '"description":', 1, true) ~= nil or string.find(json, '"subject":', 1, true) ~= nil
    or string.find(json, '"color":', 1, true) ~= nil
end

-- How many overrides of the series give instances fields of their own: the series hash's
-- `xo`, counted from the instance hash when absent (series stored before it was kept, and
-- after a split or a reset, which drop it) and stored.
local function content_overrides(mkey, xkey)
  local known = redis.call('HGET', mkey, 'xo')
  if known then return tonumber(known) end
  local n = 0
  for _, field in ipairs(redis.call('HKEYS', xkey)) do
    if string.sub(field, 1, 2) == 'o:' and has_content(redis.call('HGET', xkey, field)) then n = n + 1 end
  end
  redis.call('HSET', mkey, 'xo', n)
  return n
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
