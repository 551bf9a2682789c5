--[[
  release: end one session of each resource of the batch, each in one atomic step (invariant 2):
  remove the holder, fold its delta, and if no holder is left, claim the execution of the global
  aggregate. A session whose hold recovery removed (its worker was presumed dead) still folds its
  delta: as a late release into the pending state.

  Batch layout: includes/batch.lua. Per resource:
    keys: the resource's keys (includes/resource.lua), one state/claimed pair per field
    args[1] holder token (this session)   args[2] owner (worker id)   args[3] lease (ms)
    args[4] n, the number of fields; then n field specs (includes/fields.lua)
    args[last] the encoded custom update to push to deltas, or ''

  Returns, per resource:
    {-1}   not a holder: this session was released already; nothing folded (retries are safe)
    {0}    released; other holders remain
    {1}    released as the last holder, but an execution is still pending: the pending state is
           claimed by whoever completes that execution
    {3}    released as the last holder with nothing pending to execute
    {2, epoch, total 1 .. n, deltas}   released as the last holder and claimed this epoch
]]
--@include now
--@include fields
--@include resource
--@include batch

local t = now()
return forEachResource(function(keys, args)
  if rcall('HDEL', keys[1], args[1]) == 0 and rcall('SREM', keys[8], args[1]) == 0 then return { -1 } end
  local fields, at = parseFields(args, 5, tonumber(args[4]))
  foldDelta(keys, fields, args[at])
  if rcall('HLEN', keys[1]) > 0 then return { 0 } end
  if rcall('EXISTS', keys[3]) == 1 then return { 1 } end
  return claimIfIdle(keys, fields, args[2], tonumber(args[3]), t) or { 3 }
end)
