--[[
  Upsert a batch of directory users: fields given replace, fields absent keep their value.

  Mode: change
  KEYS[1..]: each user's hash, in ARGV order
  ARGV[1..]: for each user: id, email_key ("" to clear, "-" if email not given), field count
             N, then N field/value pairs (values are stored as given: strings, numbers, JSON)
  The email index keys (email:<key>) are built from the given and the stored email keys;
  an address given to a user is taken from the user who had it (their email is cleared).
  Returns: {0, count}
]]
--- @include "keys"
--- @include "fields"

local i, count = 1, 0
while i <= #ARGV do
  local uid, email_key, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  count = count + 1
  local ukey = KEYS[count]
  if email_key ~= '-' then
    local old = redis.call('HGET', ukey, 'emailKey')
    if old and old ~= '' and old ~= email_key and redis.call('GET', k_email(old)) == uid then
      redis.call('DEL', k_email(old))
    end
    if email_key ~= '' then
      -- One address, one user: given to another, it is taken from the one who had it (their
      -- profile's email is cleared), so that profile and index do not disagree later.
      local holder = redis.call('GET', k_email(email_key))
      if holder and holder ~= uid and redis.call('EXISTS', k_user(holder)) == 1 then
        redis.call('HSET', k_user(holder), 'email', '', 'emailKey', '')
      end
      redis.call('SET', k_email(email_key), uid)
    end
    redis.call('HSET', ukey, 'emailKey', email_key)
  end
  redis.call('HSET', ukey, 'id', uid)
  set_fields(ukey, i + 3, n)
  i = i + 3 + 2 * n
end
return {0, count}
