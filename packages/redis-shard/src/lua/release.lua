--[[
  release: end one session of each resource of the batch, each in one atomic step (invariant 2):
  remove the holder, fold its delta, and if no holder is left, claim the execution of the global
  aggregate. A session whose hold recovery removed (its worker was presumed dead) still folds its
  delta: as a late release into the pending state.

  Batch layout: includes/batch.lua. Per resource:
    KEYS[k + i]: the resource's keys (includes/resource.lua), one state/claimed pair per field
    ARGV[a+1] holder token (this session)   ARGV[a+2] owner (worker id)   ARGV[a+3] lease (ms)
    ARGV[a+4] n, the number of fields; then n field specs (includes/fields.lua)
    ARGV[a + last] the encoded custom update to push to deltas, or ''

  Returns, per resource:
    {-1}   not a holder: this session was released already; nothing folded (retries are safe).
           When that earlier release claimed an execution not yet completed, the same claim
           {2, ...} is returned again instead (its reply may have been lost).
    {0}    released; other holders remain
    {1}    released as the last holder, but an execution is still pending: the pending state is
           claimed by whoever completes that execution
    {3}    released as the last holder with nothing pending to execute (the delta was empty)
    {2, epoch, total 1 .. n, deltas}   released as the last holder and claimed this epoch
]]
--@include now
--@include fields
--@include resource
--@include batch

local us = micros()
return forEachResource(function(k, a)
  local holder = ARGV[a + 1]
  if rcall('HDEL', KEYS[k + 1], holder) == 0 and rcall('SREM', KEYS[k + 8], holder) == 0 then
    -- Released already. If that release claimed and the claim is not complete, its reply may
    -- have been lost: hand the same claim out again.
    local exec = rcall('HMGET', KEYS[k + 3], 'epoch', 'holder')
    if exec[1] and exec[2] == holder then return claimReply(k, tonumber(ARGV[a + 4]), a + 5, exec[1]) end
    return { -1 }
  end
  local n = tonumber(ARGV[a + 4])
  if rcall('HLEN', KEYS[k + 1]) == 0 and rcall('EXISTS', KEYS[k + 2]) == 0
      and rcall('EXISTS', KEYS[k + 3]) == 0 then
    -- The last holder, with nothing pending and nothing executing (a lone worker's every session
    -- end): the delta is the whole aggregate. Fold it straight into the claimed copies, which is
    -- what folding then claiming would leave there, with a third of the commands.
    if not foldInto(k, n, a + 5, claimedKey, KEYS[k + 5]) then return { 3 } end
    rcall('DEL', KEYS[k + 7])
    return claimEpoch(k, n, a + 5, ARGV[a + 2], tonumber(ARGV[a + 3]), us, holder)
  end
  local folded = foldDelta(k, n, a + 5)
  if rcall('HLEN', KEYS[k + 1]) > 0 then return { 0 } end
  if rcall('EXISTS', KEYS[k + 3]) == 1 then return { 1 } end
  if not folded and rcall('EXISTS', KEYS[k + 2]) == 0 then return { 3 } end
  return claim(k, n, a + 5, ARGV[a + 2], tonumber(ARGV[a + 3]), us, holder)
end)
