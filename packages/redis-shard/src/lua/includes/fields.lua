-- Deltas and field states. A delta's arguments, per field of the spec: in-hash folds (i f M m)
-- one value, '' for none; lastWrite (w) two, at and JSON value ('' '' for none); none (-)
-- nothing; collections their count then their members; a custom update one encoded text ('').

-- Parses a delta starting at ARGV[at]: per field {from, n}; returns it and the next index.
local function parseDelta(spec, at)
  local delta = { any = false }
  if spec.custom then
    delta.custom = ARGV[at] ~= '' and at or nil
    delta.any = delta.custom ~= nil
    return delta, at + 1
  end
  for _, f in ipairs(spec.fields) do
    local d
    if f.op == '-' then
      d = { from = at, n = 0 }
    elseif f.op == 'w' then
      d = { from = at, n = ARGV[at] ~= '' and 2 or 0 }
      at = at + 2
    elseif COLLECTION[f.op] then
      d = { from = at + 1, n = tonumber(ARGV[at]) }
      at = at + 1 + d.n
    else
      d = { from = at, n = ARGV[at] ~= '' and 1 or 0 }
      at = at + 1
    end
    delta[f.i] = d
    if d.n > 0 then delta.any = true end
  end
  return delta, at
end

-- Whether `a` sorts after `b` in byte order (Lua's `>` on strings follows the locale).
local function afterBytes(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

local function isError(reply) return type(reply) == 'table' and reply.err ~= nil end

-- Checks that the keys a delta writes (in `keyOf`: pendingKey or claimedKey) are of their type.
local function checkTypes(r, delta, keyOf)
  if r.spec.extra == 0 then return nil end
  if r.spec.custom then
    if delta.any and rcall('TYPE', keyOf(r)).ok ~= 'none' and rcall('TYPE', keyOf(r)).ok ~= 'list' then return R.WRONG_TYPE end
    return nil
  end
  for _, f in ipairs(r.spec.fields) do
    if f.coll and delta[f.i].n > 0 then
      local t = rcall('TYPE', keyOf(r, f)).ok
      if t ~= 'none' and t ~= COLLECTION[f.op] then return R.WRONG_TYPE end
      -- A string is not necessarily a HyperLogLog.
      if t == 'string' and isError(redis.pcall('PFCOUNT', keyOf(r, f))) then return R.WRONG_TYPE end
    end
  end
  return nil
end

-- Calls `command key [option] ARGV[from .. from + count - 1]` in chunks (Lua's unpack limit).
local function chunked(command, key, from, count, option)
  for i = from, from + count - 1, 1000 do
    local last = math.min(i + 999, from + count - 1)
    if option then rcall(command, key, option, unpack(ARGV, i, last)) else rcall(command, key, unpack(ARGV, i, last)) end
  end
end

-- Folds a collection field's members into `key` (cannot fail once its type was checked, but
-- hincrby: see foldCounters).
local function foldCollection(f, key, from, n)
  if f.op == 'l' then
    chunked('RPUSH', key, from, n)
    if f.param then rcall('LTRIM', key, -f.param, -1) end
  elseif f.op == 's' then
    chunked('SADD', key, from, n)
  elseif f.op == 'h' then
    chunked('PFADD', key, from, n)
  elseif f.op == 'z' then
    chunked('ZADD', key, from, n, 'GT')
    rcall('ZREMRANGEBYRANK', key, 0, -(f.param + 1))
  end
end

-- Folds counterMap increments into `key`; on overflow undoes them and returns false.
local function foldCounters(key, from, n)
  local members = {}
  for i = from, from + n - 1, 2 do members[#members + 1] = ARGV[i] end
  local old = rcall('HMGET', key, unpack(members))
  for j = 1, #members do
    if isError(redis.pcall('HINCRBY', key, members[j], ARGV[from + 2 * j - 1])) then
      for u = 1, j - 1 do
        if old[u] then rcall('HSET', key, members[u], old[u]) else rcall('HDEL', key, members[u]) end
      end
      return false
    end
  end
  return true
end

-- Folds a delta into the resource's pending state. Validates first and undoes on overflow, so a
-- failed fold leaves the resource as it was. Returns (folded, error code).
local function foldPending(r, delta)
  if not delta.any then return false, nil end
  local bad = checkTypes(r, delta, pendingKey)
  if bad then return false, bad end
  local spec, main = r.spec, r.main
  if spec.custom then
    rcall('RPUSH', pendingKey(r), ARGV[delta.custom])
    return true, nil
  end
  -- The in-hash states, read once: p<i> (and q<i>, lastWrite's at).
  local names = {}
  for _, f in ipairs(spec.fields) do
    if not f.coll and delta[f.i].n > 0 then
      names[#names + 1] = F.pending .. f.i
      names[#names + 1] = F.pendingAt .. f.i
    end
  end
  local old = #names > 0 and rcall('HMGET', main, unpack(names)) or {}
  local sets, incremented, j = {}, {}, 1
  local function undo()
    for _, name in ipairs(incremented) do
      local was = old[name]
      if was then rcall('HSET', main, name, was) else rcall('HDEL', main, name) end
    end
  end
  for _, f in ipairs(spec.fields) do
    local d = delta[f.i]
    if not f.coll and d.n > 0 then
      local name, current, v = F.pending .. f.i, old[j], ARGV[d.from]
      old[name] = current
      j = j + 2
      if f.op == 'i' then
        if isError(redis.pcall('HINCRBY', main, name, v)) then
          undo()
          return false, R.OVERFLOW
        end
        incremented[#incremented + 1] = name
      elseif f.op == 'f' then
        local sum = tonumber(current or '0') + tonumber(v)
        if sum ~= sum or sum == math.huge or sum == -math.huge then
          undo()
          return false, R.OVERFLOW
        end
        sets[#sets + 1] = { name, v, 'float' }
      elseif f.op == 'M' or f.op == 'm' then
        local x = tonumber(v)
        if not current or (f.op == 'M' and x > tonumber(current)) or (f.op == 'm' and x < tonumber(current)) then
          sets[#sets + 1] = { name, v }
        end
      elseif f.op == 'w' then
        local at, storedAt = tonumber(v), tonumber(old[j - 1] or '')
        local value = ARGV[d.from + 1]
        if not storedAt or at > storedAt or (at == storedAt and afterBytes(value, current)) then
          sets[#sets + 1] = { F.pendingAt .. f.i, v }
          sets[#sets + 1] = { name, value }
        end
      end
    elseif f.op == 'c' and d.n > 0 then
      if not foldCounters(pendingKey(r, f), d.from, d.n) then
        undo()
        return false, R.OVERFLOW
      end
    end
  end
  for _, s in ipairs(sets) do
    if s[3] then rcall('HINCRBYFLOAT', main, s[1], s[2]) else rcall('HSET', main, s[1], s[2]) end
  end
  for _, f in ipairs(spec.fields) do
    local d = delta[f.i]
    if f.coll and f.op ~= 'c' and d.n > 0 then foldCollection(f, pendingKey(r, f), d.from, d.n) end
  end
  return true, nil
end

-- The total of a collection field in `key`, as Field.readTotal expects it.
local function readCollection(f, key)
  if f.op == 'l' then return rcall('LRANGE', key, 0, -1) end
  if f.op == 's' then return rcall('SMEMBERS', key) end
  if f.op == 'h' then return rcall('PFCOUNT', key) end
  if f.op == 'z' then return rcall('ZRANGE', key, 0, -1, 'REV', 'WITHSCORES') end
  return rcall('HGETALL', key)
end

-- The reply of a claim: {CLAIMED, lost, epoch, total of each field.., deltas}, read from the
-- claimed state (`stored`: the claimed in-hash values when the caller has them, by field index).
local function claimReply(r, epoch, lost, stored)
  local reply = { R.CLAIMED, lost, epoch }
  if r.spec.custom then
    reply[4] = rcall('LRANGE', claimedKey(r), 0, -1)
    return reply
  end
  if not stored then
    local names = {}
    for _, f in ipairs(r.spec.fields) do
      names[#names + 1] = F.claimed .. f.i
      names[#names + 1] = F.claimedAt .. f.i
    end
    local values = rcall('HMGET', r.main, unpack(names))
    stored = {}
    for _, f in ipairs(r.spec.fields) do stored[f.i] = { values[2 * f.i - 1], values[2 * f.i] } end
  end
  for _, f in ipairs(r.spec.fields) do
    local s = stored[f.i] or {}
    if f.coll then
      reply[#reply + 1] = readCollection(f, claimedKey(r, f))
    elseif f.op == 'w' then
      reply[#reply + 1] = s[1] and { s[2], s[1] } or {}
    else
      reply[#reply + 1] = s[1] or false
    end
  end
  return reply
end

-- The incarnation and sequence of a hold token `<incarnation>:<sequence>`.
local function splitToken(token)
  local inc, seq = string.match(token, '^(.*):(%d+)$')
  return inc, tonumber(seq)
end

-- The released record of incarnation `inc` (`<sequence>:<final step>`, the step left out when
-- unknown): its highest released sequence (0: none) and that hold's final step (nil: unknown).
local function releasedRecord(r, inc)
  local v = rcall('HGET', r.released, inc)
  if not v then return 0, nil end
  local seq, step = string.match(v, '^(%d+):?(%d*)$')
  return tonumber(seq), tonumber(step)
end

-- Records that the release of `token` (its hold at `step`, the folds applied under it) went
-- through, so that its retry, and a replayed fold of it, are told from a release or fold whose
-- hold was lost; kept RETRY_WINDOW ms past the resource's last release. Only a release has a
-- step: the claims of completes, folds and recovery record nothing.
local function recordReleased(r, token, step)
  local inc, seq = splitToken(token or '')
  if not inc or not step then return end
  if seq > releasedRecord(r, inc) then
    rcall('HSET', r.released, inc, string.match(token, '%d+$') .. ':' .. step)
  end
  rcall('PEXPIRE', r.released, RETRY_WINDOW)
end

-- The folds applied under the hold `token` when recovery evicted it, and since (its field in
-- the released records, beside the incarnations' own); nil when not evicted or released since.
local function evictedStep(r, token)
  return tonumber(rcall('HGET', r.released, token))
end

local function recordEvicted(r, token, step)
  rcall('HSET', r.released, token, step)
  rcall('PEXPIRE', r.released, RETRY_WINDOW)
end

-- A fold of `token` at `step` whose hold the shard does not hold: true (a replay of a fold
-- applied before the hold's release or eviction, a no-op) when the hold's release is on record
-- and `step` is at most its final step, or the incarnation released a later hold of the
-- resource since (its releases of a resource are sequential); false (refused) when past the
-- final step; nil when no release of it is known (`claimedBy` / `claimedStep`: the claim's `k`
-- and `s`), then with the folds applied under it when recovery evicted it.
local function replayedFold(r, token, step, claimedBy, claimedStep)
  if claimedBy == token then return step <= (tonumber(claimedStep) or -1) end
  local evictedAt = evictedStep(r, token)
  if evictedAt then
    if step <= evictedAt then return true end
    return nil, evictedAt
  end
  local inc, seq = splitToken(token)
  local last, final = releasedRecord(r, inc)
  if last > seq then return true end
  if last == seq then return step <= (final or -1) end
  return nil
end

-- Moves the pending state to the claimed one under a new epoch (> `floor`), claimed by `by`
-- (a release's token, 'c:<epoch>' for a complete, '' for recovery) for `owner`; a release passes
-- its hold's final `step` (kept as `s` beside `k`, for replayed folds).
local function claim(r, by, owner, lost, floor, step)
  local us = micros()
  local epoch = string.format('%.0f', math.max((floor or 0) + 1, us))
  local main, stored = r.main, {}
  local sets = { F.epoch, epoch, F.owner, owner, F.lease, math.floor(us / 1000) + LEASE, F.claimedBy, by }
  local drops = { F.mods, F.forced }
  if step then
    sets[#sets + 1] = F.claimedStep
    sets[#sets + 1] = step
  end
  if r.spec.custom then
    if rcall('EXISTS', pendingKey(r)) == 1 then rcall('RENAME', pendingKey(r), claimedKey(r)) end
  else
    local names = {}
    for _, f in ipairs(r.spec.fields) do
      names[#names + 1] = F.pending .. f.i
      names[#names + 1] = F.pendingAt .. f.i
    end
    local values = #names > 0 and rcall('HMGET', main, unpack(names)) or {}
    for _, f in ipairs(r.spec.fields) do
      local v, at = values[2 * f.i - 1], values[2 * f.i]
      stored[f.i] = { v, at }
      if v then
        sets[#sets + 1] = F.claimed .. f.i
        sets[#sets + 1] = v
        drops[#drops + 1] = F.pending .. f.i
      end
      if at then
        sets[#sets + 1] = F.claimedAt .. f.i
        sets[#sets + 1] = at
        drops[#drops + 1] = F.pendingAt .. f.i
      end
      if f.coll and rcall('EXISTS', pendingKey(r, f)) == 1 then rcall('RENAME', pendingKey(r, f), claimedKey(r, f)) end
    end
  end
  rcall('HSET', main, unpack(sets))
  rcall('HDEL', main, unpack(drops))
  return claimReply(r, tonumber(epoch), lost, stored)
end
