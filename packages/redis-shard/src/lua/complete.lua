--[[
  complete: end the claimed execution of each resource of the batch after the sink wrote it
  (invariant 3: the claimed state is deleted only now), then claim the state that accumulated
  meanwhile if no holder is left.

  Batch layout: includes/batch.lua. Per resource:
    keys: the resource's keys (includes/resource.lua)
    args[1] epoch   args[2] owner (worker id)   args[3] lease (ms)
    args[4] n, the number of fields; then n field specs (ops only, no arguments)

  Returns, per resource: {-2} when the epoch is not the claimed one (completed already, or never
  claimed), {0} when completed, or {2, epoch, totals .., deltas} when completed and the next
  state claimed.
]]
--@include now
--@include fields
--@include resource
--@include batch

local t = now()
return forEachResource(function(keys, args)
  if rcall('HGET', keys[3], 'epoch') ~= args[1] then return { -2 } end
  local fields = parseFields(args, 5, tonumber(args[4]))
  rcall('DEL', keys[3], keys[5])
  for i = 1, #fields do rcall('DEL', claimedKey(keys, i)) end
  return claimIfIdle(keys, fields, args[2], tonumber(args[3]), t) or { 0 }
end)
