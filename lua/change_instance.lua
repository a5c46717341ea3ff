--[[
  Change one instance of a series (contract 9): override its fields or times, cancel it,
  or set the caller's own status for it. storage/series.py read the series at version
  ARGV[3] and computed the outcome (the instance exists, the event's JSON); this script
  applies it only if the series is still at that version (compare-and-set), so reading,
  deciding and writing are one atomic step. Participants get meeting:onMeetingUpdated with
  the instance, or meeting:onMeetingDeleted with its id when it is cancelled.

  Mode: change
  KEYS[1]: the series hash   KEYS[2]: its instance hash
  ARGV[1]: series id   ARGV[2]: caller id   ARGV[3]: series version read
  ARGV[4]: "override" | "cancel" | "accepted" | "declined"
  ARGV[5]: the instance's original start minute   ARGV[6]: the instance id
  ARGV[7]: override, and an RSVP that changes what the instance shows: the instance's own
           fields after the change, JSON (an RSVP's carries its new `updated`); else ""
  ARGV[8]: "1": the instance's times changed (every invitee of it back to "received")
  ARGV[9]: the instance's JSON after the change (the event's meeting; "" for cancel)
  ARGV[10], ARGV[11]: the series' earliest instance start and latest end ("inf") after it,
           or "", "": as they are (an RSVP, which moves nothing)
  ARGV[12]: the most fields the instance hash may hold (storage/series.py
            MAX_INSTANCE_ENTRIES); a change that would add one to a hash that full is refused
  ARGV[13]: the most instances that may have a subject, description or colour of their own
            (MAX_CONTENT_OVERRIDES), counted in the series hash's `xo`
  Returns: {0, 1 if changed else 0, ARGV[9]} | {403|404, message}
         | {400, message}: the instance hash is full and the change would add to it, or
           the change gives one more instance fields of its own than ARGV[13] allows
         | {299, message}: the series changed since it was read (nothing written)
]]
--- @include "keys"
--- @include "sets"
--- @include "series"
--- @include "meeting_json"

local sid, caller, version, kind, orig, iid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local mkey, xkey = KEYS[1], KEYS[2]
local cur = redis.call('HMGET', mkey, 'org', 'pids', 'ver', 'rule', 'src', 'lo', 'valid', 'hi')
if not cur[2] or not cur[4] then return fail(404, 'meeting ' .. iid .. ' not found') end
local organizer, pids = cur[1], decode_pids(cur[2])
if not contains(pids, caller) then return fail(404, 'meeting ' .. iid .. ' not found') end
local rsvp = kind == 'accepted' or kind == 'declined'
if rsvp and caller == organizer then
  return fail(403, 'the organizer of meeting ' .. iid .. ' cannot accept or decline it')
end
if not rsvp and caller ~= organizer then return fail(403, 'only the organizer may change meeting ' .. iid) end
if cur[3] ~= version then return fail(299, 'series ' .. sid .. ' changed while this change was prepared') end
local function absent(field) return redis.call('HEXISTS', xkey, field) == 0 end
local held = redis.call('HLEN', xkey)
if held >= tonumber(ARGV[12]) then
  local o = 'o:' .. orig
  local adds
  if rsvp then
    adds = absent('s:' .. orig .. ':' .. caller) or (ARGV[7] ~= '' and absent(o))
  elseif kind == 'cancel' then
    adds = absent('c:' .. orig) and absent(o) -- a cancel drops the override it replaces
  else
    adds = absent(o)
  end
  if adds then
    return fail(400, 'series ' .. sid .. ' holds ' .. held .. ' changes of its instances, the most one'
      .. ' series may hold; change the whole series or end it and start a new one')
  end
end
local owned, old_override = content_overrides(mkey, xkey), redis.call('HGET', xkey, 'o:' .. orig)
local owned_after = owned - (has_content(old_override) and 1 or 0)
if kind ~= 'cancel' and has_content(ARGV[7] ~= '' and ARGV[7] or old_override) then owned_after = owned_after + 1 end
if owned_after > owned and owned_after > tonumber(ARGV[13]) then
  return fail(400, 'series ' .. sid .. ' has ' .. owned .. ' instances with a subject, description or color'
    .. ' of their own, the most one series may have; change the whole series or end it and start a new one')
end

-- All checks passed: write.
local silent = false -- written, but nothing any participant sees changed: no event
if rsvp then
  local field = 's:' .. orig .. ':' .. caller
  local own = redis.call('HGET', xkey, field)
  if own == kind then return {0, 0, ARGV[9]} end
  -- The instance's own answer is kept even when the series' says the same, so that a
  -- later series answer leaves it as it is (contract 9); only a visible change is told.
  silent = (own or redis.call('HGET', mkey, 's:' .. caller)) == kind
  redis.call('HSET', xkey, field, kind)
  if ARGV[7] ~= '' then redis.call('HSET', xkey, 'o:' .. orig, ARGV[7]) end
  busy_changed(caller)
elseif kind == 'cancel' then
  redis.call('HSET', xkey, 'c:' .. orig, '1')
  -- The series itself changed (a feed's VEVENT gains an EXDATE: RFC 5545 wants its
  -- SEQUENCE and LAST-MODIFIED to move, and they come from `updated`).
  redis.call('HSET', mkey, 'j:updated', '"' .. NOW_ISO .. '"')
  redis.call('HDEL', xkey, 'o:' .. orig)
  for _, uid in ipairs(pids) do
    redis.call('HDEL', xkey, 's:' .. orig .. ':' .. uid)
    busy_changed(uid)
  end
else
  redis.call('HSET', xkey, 'o:' .. orig, ARGV[7])
  for i, uid in ipairs(pids) do
    if i > 1 and ARGV[8] == '1' then redis.call('HSET', xkey, 's:' .. orig .. ':' .. uid, 'received') end
    busy_changed(uid)
  end
end
local lo, hi = ARGV[10], ARGV[11]
if lo == '' then lo, hi = cur[6], cur[8] end
redis.call('HSET', mkey, 'ver', change_version(), 'lo', lo, 'hi', hi, 'xo', owned_after)
if lo ~= cur[6] then
  for _, uid in ipairs(pids) do redis.call('ZADD', k_user_series(uid), lo, sid) end
end
if cur[7] == '1' then redis.call('ZADD', k_source(cur[5]), end_score(hi), sid) end
if kind == 'cancel' then
  emit_to_all(pids, 'meeting:onMeetingDeleted', deleted_data(iid))
elseif not silent then
  emit_to_all(pids, 'meeting:onMeetingUpdated', meeting_data(ARGV[9]))
end
return {0, silent and 0 or 1, ARGV[9]}
