--[[
  evict: recovery of a dead worker on each resource of the batch (invariant 4). Removes every
  hold of the dead worker (remembering the tokens, so their late releases still fold); takes over
  an execution it had claimed (same epoch) or one whose lease ran out; claims the pending state
  if the dead worker was the last holder. Idempotent: running it twice is safe.

  Batch layout: includes/batch.lua. Per resource:
    KEYS[k + i]: the resource's keys (includes/resource.lua)
    ARGV[a+1] dead worker id   ARGV[a+2] owner (the recovering worker)   ARGV[a+3] lease (ms)
    ARGV[a+4] n, the number of fields; then n field specs (ops only)

  Returns, per resource: {0} when nothing is left to execute, or {2, epoch, totals .., deltas}
  for the recovering worker to execute and complete.
]]
--@include now
--@include fields
--@include resource
--@include batch

local us = micros()
local t = math.floor(us / 1000)
return forEachResource(function(k, a)
  local dead, owner, lease = ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local prefix = dead .. ':'
  for _, holder in ipairs(rcall('HKEYS', KEYS[k + 1])) do
    if string.sub(holder, 1, #prefix) == prefix then
      rcall('HDEL', KEYS[k + 1], holder)
      rcall('SADD', KEYS[k + 8], holder)
      rcall('PEXPIRE', KEYS[k + 8], EVICTED_TTL_MS)
    end
  end
  local n = tonumber(ARGV[a + 4])
  local exec = rcall('HMGET', KEYS[k + 3], 'epoch', 'owner', 'lease')
  if exec[1] then
    if exec[2] == dead or tonumber(exec[3]) < t then
      rcall('HSET', KEYS[k + 3], 'owner', owner, 'lease', t + lease)
      return claimReply(k, n, a + 5, exec[1])
    end
    return { 0 }
  end
  return claimIfIdle(k, n, a + 5, owner, lease, us) or { 0 }
end)
