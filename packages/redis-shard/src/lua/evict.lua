--[[
  evict: recovery of a dead worker on each resource of the batch (invariant 4). Removes every
  hold of the dead worker (remembering the tokens, so their late releases still fold); takes over
  an execution it had claimed (same epoch) or one whose lease ran out; claims the pending state
  if the dead worker was the last holder. Idempotent: running it twice is safe.

  Batch layout: includes/batch.lua. Per resource:
    keys: the resource's keys (includes/resource.lua)
    args[1] dead worker id   args[2] owner (the recovering worker)   args[3] lease (ms)
    args[4] n, the number of fields; then n field specs (ops only)

  Returns, per resource: {0} when nothing is left to execute, or {2, epoch, totals .., deltas}
  for the recovering worker to execute and complete.
]]
--@include now
--@include fields
--@include resource
--@include batch

local t = now()
return forEachResource(function(keys, args)
  local prefix = args[1] .. '/'
  for _, holder in ipairs(rcall('HKEYS', keys[1])) do
    if string.sub(holder, 1, #prefix) == prefix then
      rcall('HDEL', keys[1], holder)
      rcall('SADD', keys[8], holder)
      rcall('PEXPIRE', keys[8], EVICTED_TTL_MS)
    end
  end
  local fields = parseFields(args, 5, tonumber(args[4]))
  local exec = rcall('HMGET', keys[3], 'epoch', 'owner', 'lease')
  if exec[1] then
    if exec[2] == args[1] or tonumber(exec[3]) < t then
      rcall('HSET', keys[3], 'owner', args[2], 'lease', t + tonumber(args[3]))
      return claimReply(keys, fields, exec[1])
    end
    return { 0 }
  end
  return claimIfIdle(keys, fields, args[2], tonumber(args[3]), t) or { 0 }
end)
