--[[
  complete: end the claimed execution of each resource of the batch after the sink wrote it
  (invariant 3: the claimed state is deleted only now), then claim the state that accumulated
  meanwhile if no holder is left.

  Batch layout: includes/batch.lua. Per resource:
    KEYS[k + i]: the resource's keys (includes/resource.lua)
    ARGV[a+1] epoch   ARGV[a+2] owner (worker id)   ARGV[a+3] lease (ms)
    ARGV[a+4] n, the number of fields; then n field specs (ops only, no arguments)

  Returns, per resource: {-2} when the epoch is not the claimed one (completed already, or never
  claimed), {0} when completed, or {2, epoch, totals .., deltas} when completed and the next
  state claimed.
]]
--@include now
--@include fields
--@include resource
--@include batch

local us = micros()
return forEachResource(function(k, a)
  if rcall('HGET', KEYS[k + 3], 'epoch') ~= ARGV[a + 1] then return { -2 } end
  local n = tonumber(ARGV[a + 4])
  local claimed = { KEYS[k + 3], KEYS[k + 5] }
  for i = 1, n do claimed[#claimed + 1] = claimedKey(k, i) end
  rcall('DEL', unpack(claimed))
  return claimIfIdle(k, n, a + 5, ARGV[a + 2], tonumber(ARGV[a + 3]), us) or { 0 }
end)
