--[[
  extend: extend a lock's time to live, only by its owner (invariant 6).

  KEYS[1] lock   ARGV[1] owner token   ARGV[2] new ttl (ms)

  Returns 1 when extended, 0 when the lock is not held by this token.
]]

if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
