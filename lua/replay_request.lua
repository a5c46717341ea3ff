--[[
  Answer a repeated change from its stored result (contract 6), for the changes that are
  prepared in Python before their script writes (series changes: storage/series.py
  compare_and_set), which must not prepare again: what the first request changed may no
  longer be readable. Run as a change, so that the prologue answers the stored result and
  refreshes its expiry, and the server waits for --redis-min-replicas and releases held
  events after it, as after the first request: a repeat is answered only once the replicas
  have the first request's change.

  Mode: change
  KEYS[1]: the request's safe-retry key (the same key the loader appends)
  Returns: {0, ...} the first request's result, from the prologue | {404, message} no result
  is stored (never sent, or expired)
]]
return fail(404, 'no stored result under ' .. KEYS[1])
