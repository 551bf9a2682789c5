--[[
  acquire: start a session of each resource of the batch: add the holder, refreshed at server
  time.

  Batch layout: includes/batch.lua. Per resource:
    keys: the resource's keys (includes/resource.lua); only holders is used
    args[1] holder token
  Returns, per resource, the reference count after the add.
]]
--@include now
--@include batch

local t = now()
return forEachResource(function(keys, args)
  redis.call('HSET', keys[1], args[1], t)
  return redis.call('HLEN', keys[1])
end)
