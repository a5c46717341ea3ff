--[[
  A user's retained events, newest first, down to an id: with events held until replicas
  have them (--redis-min-replicas, lua/includes/events.lua), only those up to the tenant's
  released mark. The mark and the stream are read in one step: the change that holds a
  tenant's first event writes both at once, so read apart, the stream could show that
  event before it is released, and a connection told it as its lastEventId would drop it
  as a duplicate when it arrives.

  Mode: read
  KEYS[1]: the user's event stream   KEYS[2]: the tenant's released mark
  ARGV[1]: "1" when events are held (the mark applies), else ""
  ARGV[2]: the oldest id wanted, inclusive ("-": any)   ARGV[3]: at most this many
  Returns: {0, {{id, {field, value, ...}}, ...}} newest first
]]
local newest = '+'
if ARGV[1] == '1' then newest = redis.call('GET', KEYS[2]) or '+' end
return {0, redis.call('XREVRANGE', KEYS[1], newest, ARGV[2], 'COUNT', ARGV[3])}
