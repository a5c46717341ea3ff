--[[
  Replace a user's calendar feed token (contract 11): the old token's hash key goes in the
  same step, so the old URL answers 404 at once, from every instance.

  Mode: change
  KEYS[1]: the user's feed hash (fields `nonce`, `hash`)   KEYS[2]: the new token-hash key
  ARGV[1]: user id   ARGV[2]: new nonce   ARGV[3]: SHA-256 hex of the new token
  The old token-hash key is built from the stored hash (k_feed_token).
  Returns: {0, new nonce}
]]
--- @include "keys"

local feed_key, token_key, uid, nonce, token_hash = KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]
local old = redis.call('HGET', feed_key, 'hash')
if old then redis.call('DEL', k_feed_token(old)) end
redis.call('HSET', feed_key, 'nonce', nonce, 'hash', token_hash)
redis.call('SET', token_key, uid)
return {0, nonce}
