--[[
  lock: take a resource's lock if it is free, with a strictly increasing fencing token.

  KEYS[1] lock   KEYS[2] fence
  ARGV[1] owner token (unique per grant)   ARGV[2] ttl (ms)

  Returns the fencing token, or -1 when the lock is held by someone else.
]]

if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return -1
