--[[
  Versions that readers cache by: every change takes a new one from the tenant's single
  counter (so a deleted and re-created user never repeats an old one). Busy versions live
  in one hash, user id -> version, because an invitee need not have a profile; they are
  written once, at the end of the script (`finish`, called by the loader's epilogue of
  every change script), however many users changed.
]]
--- @include "keys"

local CHANGE_VERSION = nil
local function change_version()
  -- Kept as a string: it goes into several writes, and Redis formats a number argument anew
  -- for each. The counter and the time of the change: a Redis that comes back with data a
  -- little older (an AOF's last second lost, a failover to a replica behind) hands the
  -- counter's values out again, and caches keyed by a version would answer the lost state.
  CHANGE_VERSION = CHANGE_VERSION
    or string.format('%d', redis.call('INCR', k_versions())) .. '-' .. NOW_MS_TEXT
  return CHANGE_VERSION
end

local BUSY_CHANGED = {}
local function busy_changed(uid)
  BUSY_CHANGED[#BUSY_CHANGED + 1] = uid
  BUSY_CHANGED[#BUSY_CHANGED + 1] = change_version()
end

local function finish()
  if #BUSY_CHANGED > 0 then redis.call('HSET', k_busy_versions(), unpack(BUSY_CHANGED)) end
end
