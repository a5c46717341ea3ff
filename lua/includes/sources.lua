--[[
  Checks on the place a meeting is made in (its source), shared by the script that makes
  it and the read that asks what it would refuse (check_change.lua).
]]
--- @include "keys"

-- The 404 reply when the source's catalog hash `key` is missing; nil when it exists.
local function missing_source(key, stype, spk, sroom)
  if redis.call('EXISTS', key) == 1 then return nil end
  local what = {room = 'room ' .. spk, prop = 'prop ' .. sroom .. '/' .. spk,
    group = 'group ' .. spk, direct = 'user ' .. spk}
  return fail(404, (what[stype] or 'source') .. ' not found')
end

-- The 403 reply when the organizer of a group meeting is no member of the group
-- (`members_key`); nil otherwise. Asked after every 404 check (contract 3).
local function not_member(members_key, stype, organizer, spk)
  if stype == 'group' and redis.call('SISMEMBER', members_key, organizer) == 0 then
    return fail(403, 'only members of group ' .. spk .. ' may create meetings in it')
  end
  return nil
end
