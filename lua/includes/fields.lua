--[[
  Writing hash fields given as ARGV pairs, and RSVP statuses of many users at once.
]]
-- HSET, in one call, the `count` field/value pairs found in ARGV from index `first` on.
local function set_fields(key, first, count)
  if count < 1 then return end
  redis.call('HSET', key, unpack(ARGV, first, first + 2 * count - 1))
end

-- Set the RSVP status of every user in `uids` (from index `first` on), in one HSET.
local function set_statuses(mkey, uids, first, status)
  local pairs = {}
  for i = first, #uids do
    pairs[#pairs + 1] = 's:' .. uids[i]
    pairs[#pairs + 1] = status
  end
  if #pairs > 0 then redis.call('HSET', mkey, unpack(pairs)) end
end
