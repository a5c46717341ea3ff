--[[
  Publish the tenant's held events (--redis-min-replicas: lua/includes/events.lua) up to
  an id, oldest first, once the server's WAIT said the replicas have the change that id
  belongs to: replication is one ordered stream, so they also have every earlier event.
  Releasing twice publishes nothing twice; a receiver drops an id it already has anyway.

  Mode: change
  KEYS[1]: the tenant's outbox (a list of "<event id>\n<recipients>\n<frame>", in id order)
  KEYS[2]: the tenant's released mark (the newest id published)
  ARGV[1]: publish the held events up to this event id, inclusive
  Returns: {0, how many were published}
]]
local function order(event_id)
  local ms, seq = string.match(event_id, '^(%d+)-(%d+)')
  return tonumber(ms), tonumber(seq)
end

local up_ms, up_seq = order(ARGV[1])
local count, last = 0, nil
while true do
  local message = redis.call('LINDEX', KEYS[1], 0)
  if not message then break end
  local ms, seq = order(message)
  if ms > up_ms or (ms == up_ms and seq > up_seq) then break end
  redis.call('LPOP', KEYS[1])
  redis.call(PUBLISH_COMMAND, channel_events(), message)
  last, count = string.match(message, '^[^\n]*'), count + 1
end
if last then redis.call('SET', KEYS[2], last) end
return {0, count}
