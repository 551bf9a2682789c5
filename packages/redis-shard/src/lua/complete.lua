--[[
  complete: end the claimed execution of each resource of the batch after the sink wrote it
  (invariant 3: the claimed state is deleted only now); then claim what accumulated meanwhile
  when no holder is left (or forceExpiry marked it). Idempotent: a retry of a complete whose
  reply was lost gets the claim that complete made (`k` = 'c:<epoch>'). The hash is deleted when
  nothing is held, pending or claimed.

  Batch layout: includes/batch.lua (KEYS per resource: hash, extra keys).
  Per resource: ARGV type index, epoch.
  Returns per resource: {R.OK} or {R.CLAIMED, 0, epoch, totals.., deltas} or {R.WRONG_TYPE}.
]]
--@include protocol
--@include now
--@include batch
--@include fields

return forEachResource(false, function(r, at)
  local epoch = ARGV[at + 1]
  local st = redis.pcall('HMGET', r.main, F.epoch, F.claimedBy, F.count, F.mods, F.forced)
  if isError(st) then return { R.WRONG_TYPE }, at + 2 end
  if st[1] ~= epoch then
    if st[2] == 'c:' .. epoch then return claimReply(r, tonumber(st[1]), 0), at + 2 end
    return { R.OK }, at + 2
  end
  if not st[3] and not st[4] and r.spec.extra == 0 then
    -- Nothing held, pending or in keys of its own (the common case): one DEL.
    rcall('DEL', r.main)
    return { R.OK }, at + 2
  end
  local claimed = {}
  for i = 1, r.spec.extra, 2 do claimed[#claimed + 1] = KEYS[r.base + i] end
  if not st[3] and not st[4] then
    claimed[#claimed + 1] = r.main
    rcall('DEL', unpack(claimed))
    return { R.OK }, at + 2
  end
  if #claimed > 0 then rcall('DEL', unpack(claimed)) end
  local fields = { F.epoch, F.owner, F.lease, F.claimedBy, F.claimedStep }
  for _, f in ipairs(r.spec.fields) do
    fields[#fields + 1] = F.claimed .. f.i
    fields[#fields + 1] = F.claimedAt .. f.i
  end
  rcall('HDEL', r.main, unpack(fields))
  if st[4] and (not st[3] or st[5]) then return claim(r, 'c:' .. epoch, INCARNATION, 0, tonumber(epoch)), at + 2 end
  return { R.OK }, at + 2
end)
