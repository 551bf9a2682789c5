--[[
  unlock: release a lock, only by its owner (invariant 6).

  KEYS[1] lock   ARGV[1] owner token

  Returns 1 when released, 0 when the lock is not held by this token (expired or someone else's).
]]

if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
