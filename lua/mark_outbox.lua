--[[
  The newest event held in the tenant's outbox (--redis-min-replicas), for an instance's
  sweep to release once its WAIT says the replicas have everything up to it: events whose
  own change's server could not release them (it stopped, or its WAIT timed out). The
  released mark is written again, unchanged, so that the WAIT behind this script covers
  the outbox as it is now.

  Mode: change
  KEYS[1]: the tenant's outbox   KEYS[2]: the tenant's released mark
  Returns: {0, the newest held event id, or "" when nothing is held}
]]
local newest = redis.call('LINDEX', KEYS[1], -1)
if not newest then return {0, ''} end
redis.call('SET', KEYS[2], redis.call('GET', KEYS[2]) or '0-0')
return {0, string.match(newest, '^[^\n]*')}
