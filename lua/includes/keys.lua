--[[
  Key and channel names, built from the tenant's prefix (library argument PREFIX, e.g.
  "rm:{acme}:"), mirroring roomful_meetings/storage/keys.py (tests/storage/test_keys.py
  checks that both agree). A script builds a key here only when it learns the key from data
  it reads (a meeting's participants, a source's meetings) or when it is the tenant's own
  bookkeeping (event counter, versions, shared frames, the events channel); the keys a
  request names reach it as KEYS. Every name carries the tenant's {hash tag}, so all of
  them share the slot of KEYS on a Redis Cluster.
]]
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
local function k_outbox() return PREFIX .. 'outbox' end
local function k_released() return PREFIX .. 'released' end
local function channel_events() return PREFIX .. 'events' end
