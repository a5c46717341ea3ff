--[[
  Checks on the users a change invites.
]]
--- @include "keys"

-- The added invitees that have no profile, as a 404 reply (nil when all exist).
local function missing_users(added)
  if #added == 0 then return nil end
  local keys = {}
  for i, uid in ipairs(added) do keys[i] = k_user(uid) end
  -- One EXISTS answers the usual case: it counts a key as often as it is named, so it
  -- answers the list's length exactly when every one exists.
  if redis.call('EXISTS', unpack(keys)) == #keys then return nil end
  local missing = {}
  for i, uid in ipairs(added) do
    if redis.call('EXISTS', keys[i]) == 0 then missing[#missing + 1] = uid end
  end
  if #missing > 0 then return fail(404, 'invited users not found: ' .. table.concat(missing, ', ')) end
  return nil
end
