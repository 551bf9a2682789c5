--[[
  lock: take a resource's lock if it is free, with a fencing token that strictly increases per
  resource: max(last + 1, server time in µs), so it keeps increasing even when Redis lost the
  last one (a restart without persistence).

  KEYS[1] lock   KEYS[2] fence (the last token)
  ARGV[1] owner token (unique per grant)   ARGV[2] ttl (ms)

  Returns the fencing token, or -1 when the lock is held by someone else.
]]
--@include now

if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = math.max(tonumber(redis.call('GET', KEYS[2]) or '0') + 1, micros())
  redis.call('SET', KEYS[2], string.format('%.0f', fence))
  return fence
end
return -1
