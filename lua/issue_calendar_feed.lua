--[[
  Give a user a calendar feed token unless they have one (contract 11): the first caller
  stores the nonce it brings, every later caller (from any instance) gets the stored one.
  The token itself is never stored: the server derives it from the nonce with its feed
  secret, and stores only the token's SHA-256 (one key per token hash -> user id).

  Mode: change
  KEYS[1]: the user's feed hash (fields `nonce`, `hash`)   KEYS[2]: the token-hash key of
  the new token (written only when the user has none)
  ARGV[1]: user id   ARGV[2]: nonce   ARGV[3]: SHA-256 hex of the token the nonce gives
  Returns: {0, nonce in effect}
]]
local feed_key, token_key, uid, nonce, token_hash = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local current = redis.call('HGET', feed_key, 'nonce')
if current then return {0, current} end
redis.call('HSET', feed_key, 'nonce', nonce, 'hash', token_hash)
redis.call('SET', token_key, uid)
return {0, nonce}
