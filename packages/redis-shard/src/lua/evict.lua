--[[
  evict: recovery of a dead worker on one resource (invariant 4). Removes every hold of the dead
  worker (remembering the tokens, so their late releases still fold); takes over an execution it had claimed (same epoch) or one whose lease ran out; claims
  the pending state if the dead worker was the last holder. Idempotent: running it twice is safe.

  KEYS: the resource's keys (includes/resource.lua).
  ARGV[1] dead worker id   ARGV[2] owner (the recovering worker)   ARGV[3] lease (ms)
  ARGV[4] n, the number of fields; then n field specs (ops only)

  Returns {0} when nothing is left to execute, or {2, epoch, totals .., deltas} for the
  recovering worker to execute and complete.
]]
--@include now
--@include fields
--@include resource

local t = now()
local prefix = ARGV[1] .. '/'
for _, holder in ipairs(rcall('HKEYS', KEYS[1])) do
  if string.sub(holder, 1, #prefix) == prefix then
    rcall('HDEL', KEYS[1], holder)
    rcall('SADD', KEYS[8], holder)
    rcall('PEXPIRE', KEYS[8], EVICTED_TTL_MS)
  end
end
local fields = parseFields(ARGV, 5, tonumber(ARGV[4]))
local exec = rcall('HMGET', KEYS[3], 'epoch', 'owner', 'lease')
if exec[1] then
  if exec[2] == ARGV[1] or tonumber(exec[3]) < t then
    rcall('HSET', KEYS[3], 'owner', ARGV[2], 'lease', t + tonumber(ARGV[3]))
    return claimReply(fields, exec[1])
  end
  return { 0 }
end
return claimIfIdle(fields, ARGV[2], tonumber(ARGV[3]), t) or { 0 }
