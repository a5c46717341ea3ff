--[[
  Upsert a batch of groups; memberIds, when given, replaces the member set.

  Mode: change
  KEYS[1..]: each group's hash, in ARGV order
  ARGV[1..]: for each group: id, field count N, N field/value pairs (networkId, title),
             member count M (-1 when memberIds is not given), then M member ids
  The member sets and the members' group sets are built from the ids.
  Returns: {0, count}
]]
--- @include "keys"
--- @include "fields"

local i, count = 1, 0
while i <= #ARGV do
  local gid, n = ARGV[i], tonumber(ARGV[i + 1])
  count = count + 1
  local gkey = KEYS[count]
  redis.call('HSET', gkey, 'id', gid)
  set_fields(gkey, i + 2, n)
  i = i + 2 + 2 * n
  local m = tonumber(ARGV[i])
  if m >= 0 then
    local mkey = k_group_members(gid)
    for _, old in ipairs(redis.call('SMEMBERS', mkey)) do
      redis.call('SREM', k_user_groups(old), gid)
    end
    redis.call('DEL', mkey)
    for j = 1, m do
      redis.call('SADD', mkey, ARGV[i + j])
      redis.call('SADD', k_user_groups(ARGV[i + j]), gid)
    end
  else
    m = 0
  end
  i = i + 1 + m
end
return {0, count}
