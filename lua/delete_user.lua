--[[
  Erase a user: profile, email entry, group memberships, availability, events and the
  calendar feed. Meetings they organized are deleted (participants get
  meeting:onMeetingDeleted); from the others they are removed (the rest get
  meeting:onMeetingUpdated), and direct meetings with them become invalid. Series they
  organize or take part in are treated alike. Their own open connections get
  meeting:onMeetingDeleted for each, live only: their stream is deleted at the end.

  Mode: change
  KEYS[1]: the user hash   KEYS[2]: their group set   KEYS[3]: their meeting index
  KEYS[4]: their series index   KEYS[5]: their event stream   KEYS[6]: their busy index
  KEYS[7]: their weekly pattern   KEYS[8]: their day index   KEYS[9]: their feed hash
  KEYS[10]: the meeting index of direct meetings with them (src:direct:<id>)
  ARGV[1]: user id
  Returns: {0, 1 if the user existed else 0}
]]
--- @include "keys"
--- @include "series"
--- @include "erase"
--- @include "meeting_json"
--- @include "invalidate"

local uid, ukey = ARGV[1], KEYS[1]
local existed = redis.call('EXISTS', ukey)
local email_key = redis.call('HGET', ukey, 'emailKey')
if email_key and email_key ~= '' and redis.call('GET', k_email(email_key)) == uid then
  redis.call('DEL', k_email(email_key))
end
for _, gid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('SREM', k_group_members(gid), uid)
end

local direct_src = 'direct:' .. uid

-- Leave one meeting or series (`series`: its instances' statuses of the user go too, and
-- the others' busy time is recomputed): deleted if the user organized it, else the user
-- is removed from it.
local function leave(mid, series)
  local mkey = k_meeting(mid)
  local cur = redis.call('HMGET', mkey, 'org', 'pids', 'src', 'start', 'end')
  if not cur[2] then return end
  local pids = decode_pids(cur[2])
  local rest = {}
  for _, other in ipairs(pids) do if other ~= uid then rest[#rest + 1] = other end end
  -- The user's own open connections are told too (their stream goes at the end).
  if cur[1] == uid then
    erase_meeting(mkey, mid, pids, cur)
    emit_to_all(pids, 'meeting:onMeetingDeleted', deleted_data(mid))
    return
  end
  redis.call('HDEL', mkey, 's:' .. uid)
  if series then
    forget_instance_statuses(k_series_instances(mid), {uid})
    redis.call('HSET', mkey, 'pids', cjson.encode(rest), 'j:updated', '"' .. NOW_ISO .. '"', 'ver', change_version())
    for _, other in ipairs(rest) do busy_changed(other) end
  else
    redis.call('HSET', mkey, 'pids', cjson.encode(rest), 'j:updated', '"' .. NOW_ISO .. '"')
  end
  -- A direct meeting or series with the user becomes invalid in the same step: one event.
  if cur[3] == direct_src then
    redis.call('HSET', mkey, 'valid', '0')
    redis.call('ZREM', KEYS[10], mid)
  end
  local event_id = next_event_id()
  emit(rest, event_id, push_frame('meeting:onMeetingUpdated', event_id, meeting_data(meeting_json(mkey))))
  emit({uid}, event_id, push_frame('meeting:onMeetingDeleted', event_id, deleted_data(mid)))
end

for _, mid in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do leave(mid, false) end
-- Series (contract 9): the same, in the series index.
for _, sid in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do leave(sid, true) end
invalidate_source(KEYS[10])

-- the calendar feed goes with its token's hash key: the URL is 404 at once (contract 11)
local feed_hash = redis.call('HGET', KEYS[9], 'hash')
if feed_hash then redis.call('DEL', k_feed_token(feed_hash), KEYS[9]) end
for _, day_key in ipairs(redis.call('ZRANGE', KEYS[8], 0, -1)) do redis.call('DEL', day_key) end
busy_changed(uid)
redis.call('DEL', ukey, KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8])
return {0, existed}
