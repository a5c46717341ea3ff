--[[
  Upsert a batch of groups; memberIds, when given, replaces the member set.

  KEYS: none (group and user keys are built from the prefix)
  ARGV[4..]: for each group: id, field count N, N field/value pairs (networkId, title),
             member count M (-1 when memberIds is not given), then M member ids
  Returns: {0, count}
]]
local i, count = 4, 0
while i <= #ARGV do
  local gid, n = ARGV[i], tonumber(ARGV[i + 1])
  local gkey = k_group(gid)
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
  i, count = i + 1 + m, count + 1
end
return {0, count}
