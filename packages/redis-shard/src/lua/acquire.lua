--[[
  acquire: start a session of a resource: add the holder (refreshed at server time).

  KEYS: the resource's keys (includes/resource.lua); only holders is used.
  ARGV[1] holder token

  Returns the reference count after the add.
]]
--@include now

redis.call('HSET', KEYS[1], ARGV[1], now())
return redis.call('HLEN', KEYS[1])
