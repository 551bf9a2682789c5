--[[
  fold: fold a partial aggregate into each resource of the batch while keeping the hold
  (phonon's cache). Strictly sequenced per hold: a fold carries its hold's next step and applies
  only when the recorded step is the one before it; a retry (recorded step already there or past)
  answers as applied, changing nothing; a fold ahead of the record (a fold before it, in doubt,
  never arrived) is refused with R.OUT_OF_ORDER, changing nothing. A fold whose hold the shard
  does not know folds anyway and re-establishes the hold, flagged lost, unless its release is on
  record (its claim `k` = its token, or its incarnation's released record): then a fold at or
  below the hold's final step is a replay of one applied before the release (the release came
  after every fold of its hold) and answers as applied, changing nothing; a fold past it (after
  the release) is refused R.NOT_HELD, nothing changed. A fold of a hold recovery evicted (its
  incarnation was dead: the fold is a replay of its log, or of a zombie) is applied once, in
  sequence, by the evicted record's step, without re-establishing the hold (nobody would release
  it); when that leaves the resource idle (no holder, nothing claimed) the fold claims it, its
  claim `k` = 'f:<token>:<step>' (a retry gets the same claim), flagged lost.

  Batch layout: includes/batch.lua (KEYS per resource: hash, released records, extra keys).
  Per resource: ARGV type index, token, step, delta.
  Returns per resource: {R.FOLDED, lost, timesModified, forced 0|1}, {R.CLAIMED, 1, epoch,
  totals.., deltas} or {R.WRONG_TYPE|OVERFLOW|OUT_OF_ORDER|NOT_HELD} (nothing changed).
]]
--@include protocol
--@include now
--@include batch
--@include fields

-- The fold at `step` of a hold recovery evicted, right after the `step - 1` folds applied under
-- it: folded and recorded, and the resource claimed when it is `idle` (no holder, no claim).
local function evictedFold(r, token, step, delta, mods, forced, idle)
  local folded, bad = foldPending(r, delta)
  if bad then return { bad } end
  recordEvicted(r, token, step)
  if folded then mods = rcall('HINCRBY', r.main, F.mods, 1) end
  if idle and mods > 0 then return claim(r, 'f:' .. token .. ':' .. step, INCARNATION, 1) end
  return { R.FOLDED, 1, mods, forced }
end

return forEachResource(true, function(r, at)
  local token, step = ARGV[at + 1], tonumber(ARGV[at + 2])
  local delta, nextAt = parseDelta(r.spec, at + 3)
  local holder = F.holder .. token
  local st = redis.pcall('HMGET', r.main, holder, F.mods, F.forced, F.claimedBy, F.claimedStep, F.epoch, F.count)
  if isError(st) then return { R.WRONG_TYPE }, nextAt end
  local mods, forced = tonumber(st[2] or '0'), st[3] and 1 or 0
  if not st[1] then
    if st[4] == 'f:' .. token .. ':' .. step then return claimReply(r, tonumber(st[6]), 0), nextAt end
    local replayed, evictedAt = replayedFold(r, token, step, st[4], st[5])
    if replayed then return { R.FOLDED, 0, mods, forced }, nextAt end
    if replayed == false then return { R.NOT_HELD }, nextAt end
    if evictedAt and step > evictedAt + 1 then return { R.OUT_OF_ORDER }, nextAt end
    if evictedAt then
      return evictedFold(r, token, step, delta, mods, forced, not st[6] and not st[7]), nextAt
    end
  end
  if st[1] and tonumber(st[1]) >= step then return { R.FOLDED, 0, mods, forced }, nextAt end
  if st[1] and tonumber(st[1]) < step - 1 then return { R.OUT_OF_ORDER }, nextAt end
  local folded, bad = foldPending(r, delta)
  if bad then return { bad }, nextAt end
  rcall('HSET', r.main, holder, step)
  if not st[1] then rcall('HINCRBY', r.main, F.count, 1) end
  if folded then mods = rcall('HINCRBY', r.main, F.mods, 1) end
  return { R.FOLDED, st[1] and 0 or 1, mods, forced }, nextAt
end)
