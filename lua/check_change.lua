--[[
  What a change would be refused for before it writes, read without writing: asked when a
  rejectConflicts check found someone busy (service/conflicts.py), so that a change
  refused for a missing source or invitee (404) or a group its organizer is no member of
  (403) is answered so, in the contract's order (section 3), and not 409 naming who is
  busy. The checks are those of create_meeting.lua (lua/includes/sources.lua, users.lua).

  Mode: read
  KEYS[1]: the source's catalog hash (read when ARGV[3] is not "")
  KEYS[2]: the group's members (read when ARGV[3] is "group")
  ARGV[1]: organizer id   ARGV[2]: the invitees the change adds, JSON
  ARGV[3]: source type, or "" (the change keeps its source)   ARGV[4]: source pk
  ARGV[5]: room id of a room or prop source, else ""
  Returns: {0} | {404, message} | {403, message}
]]
--- @include "users"
--- @include "sources"

local organizer, stype, spk, sroom = ARGV[1], ARGV[3], ARGV[4], ARGV[5]
local refused = (stype ~= '' and missing_source(KEYS[1], stype, spk, sroom))
  or missing_users(cjson.decode(ARGV[2])) or not_member(KEYS[2], stype, organizer, spk)
return refused or {0}
