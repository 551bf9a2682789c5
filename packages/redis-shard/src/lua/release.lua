--[[
  release: end one session of each resource of the batch in one atomic step (invariant 2):
  remove the holder, fold its delta, and claim the execution under a new epoch when no holder is
  left (or forceExpiry marked the resource). Idempotent: a retry is told apart by the claim it
  made (`k`) or by the released record of its incarnation; a release whose hold the shard does
  not know (Redis lost it, or recovery evicted it) folds its delta as a late release, flagged
  lost: one of an evicted hold once every fold of it was applied (else R.OUT_OF_ORDER).

  Batch layout: includes/batch.lua (KEYS per resource: hash, released records, extra keys).
  A release carries its hold's step (the folds applied under it): while the recorded step is
  behind it (a fold before it, in doubt, never arrived) it is refused with R.OUT_OF_ORDER, so a
  release never overtakes a fold.

  Per resource: ARGV type index, token, step, '1' to claim even an empty session (else ''), delta.
  Returns per resource: {R.HELD|PENDING|EMPTY, lost}, {R.RELEASED},
  {R.WRONG_TYPE|OVERFLOW|OUT_OF_ORDER} (nothing changed), or {R.CLAIMED, lost, epoch, totals.., deltas}.
]]
--@include protocol
--@include now
--@include batch
--@include fields

-- The lone last holder of a resource with nothing pending: its delta is the whole aggregate and
-- goes straight to the claimed state (what folding then claiming would leave, in 4 calls).
local function claimDelta(r, delta, token, inc, step)
  local bad = checkTypes(r, delta, claimedKey)
  if bad then return { bad } end
  local us = micros()
  local epoch = string.format('%.0f', us)
  local sets = { F.epoch, epoch, F.owner, inc, F.lease, math.floor(us / 1000) + LEASE, F.claimedBy, token, F.claimedStep, step }
  local stored = {}
  if r.spec.custom then
    rcall('RPUSH', claimedKey(r), ARGV[delta.custom])
  else
    for _, f in ipairs(r.spec.fields) do
      local d = delta[f.i]
      if d.n > 0 and f.coll then
        if f.op == 'c' then foldCounters(claimedKey(r, f), d.from, d.n) else foldCollection(f, claimedKey(r, f), d.from, d.n) end
      elseif d.n > 0 then
        local v = f.op == 'w' and ARGV[d.from + 1] or ARGV[d.from]
        stored[f.i] = { v, f.op == 'w' and ARGV[d.from] or false }
        sets[#sets + 1] = F.claimed .. f.i
        sets[#sets + 1] = v
        if f.op == 'w' then
          sets[#sets + 1] = F.claimedAt .. f.i
          sets[#sets + 1] = ARGV[d.from]
        end
      end
    end
  end
  rcall('HSET', r.main, unpack(sets))
  rcall('HDEL', r.main, F.holder .. token, F.count, F.forced)
  return claimReply(r, tonumber(epoch), 0, stored)
end

return forEachResource(true, function(r, at)
  local token, stepText, claimEmpty = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3] == '1'
  local step = tonumber(stepText)
  local delta, nextAt = parseDelta(r.spec, at + 4)
  local st = redis.pcall('HMGET', r.main, F.holder .. token, F.count, F.mods, F.epoch, F.forced, F.claimedBy, F.lease, F.claimedStep)
  if isError(st) then return { R.WRONG_TYPE }, nextAt end
  local inc, seq = splitToken(token)
  local held, lost = st[1] ~= false, 0
  if held and tonumber(st[1]) < step then return { R.OUT_OF_ORDER }, nextAt end
  if not held then
    if st[6] == token then return claimReply(r, tonumber(st[4]), 0), nextAt end
    local evictedAt = evictedStep(r, token)
    if evictedAt then
      -- Recovery evicted the hold: released once every fold before it was applied.
      if evictedAt < step then return { R.OUT_OF_ORDER }, nextAt end
      rcall('HDEL', r.released, token)
    elseif releasedRecord(r, inc) >= seq then
      return { R.RELEASED }, nextAt
    end
    lost = 1
  end
  -- The hold's final step, on record for replayed folds: the shard's (past the hold's when a
  -- fold's reply was lost).
  local final = held and st[1] or stepText
  local n, mods = tonumber(st[2] or '0'), tonumber(st[3] or '0')
  local remaining = held and n - 1 or n
  if held and remaining == 0 and mods == 0 and not st[4] and delta.any then
    return claimDelta(r, delta, token, inc, final), nextAt
  end
  local folded, bad = foldPending(r, delta)
  if bad then return { bad }, nextAt end
  if held then
    if remaining > 0 then
      rcall('HSET', r.main, F.count, remaining)
      rcall('HDEL', r.main, F.holder .. token)
    else
      rcall('HDEL', r.main, F.holder .. token, F.count)
    end
  end
  if folded then mods = rcall('HINCRBY', r.main, F.mods, 1) end
  if st[4] then
    -- An execution is pending. Its owner's lease ran out (stuck or dead): take it over.
    if tonumber(st[7]) < math.floor(micros() / 1000) then
      recordReleased(r, st[6], st[8])
      rcall('HSET', r.main, F.owner, inc, F.lease, math.floor(micros() / 1000) + LEASE)
      recordReleased(r, token, final)
      return claimReply(r, tonumber(st[4]), lost), nextAt
    end
    recordReleased(r, token, final)
    return { R.PENDING, lost }, nextAt
  end
  if remaining > 0 and not st[5] then
    recordReleased(r, token, final)
    return { R.HELD, lost }, nextAt
  end
  if mods == 0 and not (claimEmpty and remaining == 0) then
    recordReleased(r, token, final)
    if remaining > 0 then return { R.HELD, lost }, nextAt end
    rcall('HDEL', r.main, F.forced)
    return { R.EMPTY, lost }, nextAt
  end
  return claim(r, token, inc, lost, nil, final), nextAt
end)
