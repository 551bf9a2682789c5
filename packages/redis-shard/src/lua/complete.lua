--[[
  complete: end the claimed execution of each resource of the batch after the sink wrote it
  (invariant 3: the claimed state is deleted only now); then claim what accumulated meanwhile
  when no holder is left (or forceExpiry marked it). Idempotent: a retry of a complete whose
  reply was lost gets the claim that complete made (`k` = 'c:<epoch>'). The hash is deleted when
  nothing is held, pending or claimed. With '1' (the shard's rememberExecuted), a complete of a
  claim a release made records that release (its token `k`, its final step `s`) in the released
  records, as a release that did not claim is recorded: a replay of that release, or of its
  folds, after the claim is gone answers as released/applied instead of folding again.

  Batch layout: includes/batch.lua (KEYS per resource: hash, released records, extra keys).
  Per resource: ARGV type index, epoch, '1' to remember the executed release (else '').
  Returns per resource: {R.OK} or {R.CLAIMED, 0, epoch, totals.., deltas} or {R.WRONG_TYPE}.
]]
--@include protocol
--@include now
--@include batch
--@include fields

return forEachResource(true, function(r, at)
  local epoch = ARGV[at + 1]
  local st = redis.pcall('HMGET', r.main, F.epoch, F.claimedBy, F.count, F.mods, F.forced, F.claimedStep)
  if isError(st) then return { R.WRONG_TYPE }, at + 3 end
  if st[1] ~= epoch then
    if st[2] == 'c:' .. epoch then return claimReply(r, tonumber(st[1]), 0), at + 3 end
    return { R.OK }, at + 3
  end
  -- A release's claim (only those keep `s`), remembered if asked.
  if ARGV[at + 2] == '1' and st[6] then recordReleased(r, st[2], st[6]) end
  if not st[3] and not st[4] and r.spec.extra == 0 then
    -- Nothing held, pending or in keys of its own (the common case): one DEL.
    rcall('DEL', r.main)
    return { R.OK }, at + 3
  end
  local claimed = {}
  for i = 1, r.spec.extra, 2 do claimed[#claimed + 1] = KEYS[r.base + i] end
  if not st[3] and not st[4] then
    claimed[#claimed + 1] = r.main
    rcall('DEL', unpack(claimed))
    return { R.OK }, at + 3
  end
  if #claimed > 0 then rcall('DEL', unpack(claimed)) end
  local fields = { F.epoch, F.owner, F.lease, F.claimedBy, F.claimedStep }
  for _, f in ipairs(r.spec.fields) do
    fields[#fields + 1] = F.claimed .. f.i
    fields[#fields + 1] = F.claimedAt .. f.i
  end
  rcall('HDEL', r.main, unpack(fields))
  if st[4] and (not st[3] or st[5]) then return claim(r, 'c:' .. epoch, INCARNATION, 0, tonumber(epoch)), at + 3 end
  return { R.OK }, at + 3
end)
