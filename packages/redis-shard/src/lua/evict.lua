--[[
  evict: recovery of a dead incarnation on each resource of the batch (invariant 4). Removes
  every hold of the incarnation (and of those it renewed from), recording each with the folds
  applied under it (a replay of its log's folds and release then applies once); takes over an
  execution it owned or whose lease ran out (same epoch, recording the release that claimed it
  as released); claims the pending state if no holder is left. Idempotent.

  Batch layout: includes/batch.lua (KEYS per resource: hash, released records, extra keys).
  Per resource: ARGV type index, the dead incarnations (space-separated).
  Returns per resource: {R.OK}; {R.PENDING} when a live owner's claim holds a valid lease (the
  recoverer keeps the resource in the dead incarnation's registry and looks again); {R.CLAIMED,
  0, epoch, totals.., deltas} for the recoverer to execute and complete; or {R.WRONG_TYPE}.
]]
--@include protocol
--@include now
--@include batch
--@include fields

return forEachResource(true, function(r, at)
  local dead = {}
  for inc in string.gmatch(ARGV[at + 1], '%S+') do dead[inc] = true end
  local st = redis.pcall('HMGET', r.main, F.count, F.mods, F.epoch, F.owner, F.lease, F.claimedBy, F.claimedStep)
  if isError(st) then return { R.WRONG_TYPE }, at + 2 end
  local n, removed = tonumber(st[1] or '0'), {}
  local all = rcall('HGETALL', r.main)
  for i = 1, #all, 2 do
    local field = all[i]
    if string.sub(field, 1, #F.holder) == F.holder then
      local token = string.sub(field, #F.holder + 1)
      if dead[splitToken(token)] then
        removed[#removed + 1] = field
        -- What its log replays later is applied by this record, once (fold.lua, release.lua).
        recordEvicted(r, token, all[i + 1])
      end
    end
  end
  if #removed > 0 then
    n = n - #removed
    rcall('HDEL', r.main, unpack(removed))
    if n > 0 then rcall('HSET', r.main, F.count, n) else rcall('HDEL', r.main, F.count) end
  end
  local t = math.floor(micros() / 1000)
  if st[3] then
    if dead[st[4]] or tonumber(st[5]) < t then
      recordReleased(r, st[6], st[7])
      rcall('HSET', r.main, F.owner, INCARNATION, F.lease, t + LEASE)
      return claimReply(r, tonumber(st[3]), 0), at + 2
    end
    -- A live owner's claim with a valid lease: to look at again once the lease ran out.
    return { R.PENDING }, at + 2
  end
  if n <= 0 and st[2] then return claim(r, '', INCARNATION, 0), at + 2 end
  return { R.OK }, at + 2
end)
