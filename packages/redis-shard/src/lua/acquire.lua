--[[
  acquire: start a session of each resource of the batch: add the holder, refreshed at server
  time.

  Batch layout: includes/batch.lua. Per resource:
    KEYS[k+1] the resource's holders (only that key)
    ARGV[a+1] holder token
  Returns, per resource, the reference count after the add.
]]
--@include now
--@include batch

local t = now()
return forEachResource(function(k, a)
  redis.call('HSET', KEYS[k + 1], ARGV[a + 1], t)
  return redis.call('HLEN', KEYS[k + 1])
end)
