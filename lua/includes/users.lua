--[[
  Checks on the users a change invites.
]]
--- @include "keys"

-- The added invitees that have no profile, as a 404 reply (nil when all exist).
local function missing_users(added)
  local missing = {}
  for _, uid in ipairs(added) do
    if redis.call('EXISTS', k_user(uid)) == 0 then missing[#missing + 1] = uid end
  end
  if #missing > 0 then return fail(404, 'invited users not found: ' .. table.concat(missing, ', ')) end
  return nil
end
