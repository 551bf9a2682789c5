-- The keys of one resource, in the order every per-resource script receives them, from KEYS[k+1]
-- (all share the resource's hash tag, so each resource touches one Cluster slot):
--   k+1 holders      hash   holder token -> last refresh (ms)
--   k+2 mods         string times modified in the current session (exists iff state is pending)
--   k+3 exec         hash   the claimed execution: epoch, owner, lease (ms deadline), holder
--                           (the session whose release claimed it, '' otherwise)
--   k+4 deltas       list   encoded states of custom updates
--   k+5 execDeltas   list   the deltas of the claimed execution
--   k+6 epoch        string the last epoch handed out
--   k+7 expire       string set by forceExpiry
--   k+8 evicted      set    holder tokens removed by recovery (their late releases still fold)
--   k+9+2(i-1)       the state of field i;  k+10+2(i-1)  its claimed copy
local FIXED = 8
local EVICTED_TTL_MS = 7 * 24 * 3600 * 1000
local EPOCH_TTL_MS = 30 * 24 * 3600 * 1000

local function stateKey(k, i) return KEYS[k + FIXED + 2 * i - 1] end
local function claimedKey(k, i) return KEYS[k + FIXED + 2 * i] end

-- Folds the n field specs starting at ARGV[at] into the keys `keyOf(k, i)`, and the encoded
-- custom update after them into the list `deltas`. Returns whether anything was folded.
local function foldInto(k, n, at, keyOf, deltas)
  local folded = false
  for i = 1, n do
    if foldField(keyOf(k, i), at) then folded = true end
    at = nextSpec(at)
  end
  if ARGV[at] ~= '' then
    rcall('RPUSH', deltas, ARGV[at])
    folded = true
  end
  return folded
end

-- Folds a delta into the pending state (counting the modification). Returns whether anything was.
local function foldDelta(k, n, at)
  local folded = foldInto(k, n, at, stateKey, KEYS[k + 4])
  if folded then rcall('INCR', KEYS[k + 2]) end
  return folded
end

-- The reply of a claim: {2, epoch, total of field 1 .. n, deltas}; specs start at ARGV[at].
local function claimReply(k, n, at, epoch)
  local reply = { 2, epoch }
  for i = 1, n do
    reply[#reply + 1] = readField(claimedKey(k, i), ARGV[at])
    at = nextSpec(at)
  end
  reply[#reply + 1] = rcall('LRANGE', KEYS[k + 5], 0, -1)
  return reply
end

-- RENAME when the key exists. (Not a pcall of RENAME: an error reply costs Redis more than an
-- EXISTS, and most claims have keys that were never written, such as a model's empty deltas.)
local function renameIfExists(from, to)
  if rcall('EXISTS', from) == 1 then rcall('RENAME', from, to) end
end

-- Hands the claimed copies out under a new epoch owned by `owner` (claimed by the release of
-- session `holder`, or ''), at time `micros` (µs). Epochs strictly increase per resource and
-- never repeat: max(last + 1, now).
local function claimEpoch(k, n, at, owner, leaseMs, micros, holder)
  local last = tonumber(rcall('GET', KEYS[k + 6]) or '0')
  local epoch = string.format('%.0f', math.max(last + 1, micros))
  rcall('SET', KEYS[k + 6], epoch, 'PX', EPOCH_TTL_MS)
  rcall('HSET', KEYS[k + 3], 'epoch', epoch, 'owner', owner, 'lease', math.floor(micros / 1000) + leaseMs, 'holder', holder or '')
  return claimReply(k, n, at, epoch)
end

-- Moves the pending state to the claimed copies and claims them (see claimEpoch).
local function claim(k, n, at, owner, leaseMs, micros, holder)
  for i = 1, n do renameIfExists(stateKey(k, i), claimedKey(k, i)) end
  renameIfExists(KEYS[k + 4], KEYS[k + 5])
  rcall('DEL', KEYS[k + 2], KEYS[k + 7])
  return claimEpoch(k, n, at, owner, leaseMs, micros, holder)
end

-- Claims the pending state when no holder is left, nothing is being executed and state is pending.
local function claimIfIdle(k, n, at, owner, leaseMs, micros)
  if rcall('HLEN', KEYS[k + 1]) == 0 and rcall('EXISTS', KEYS[k + 3]) == 0 and rcall('EXISTS', KEYS[k + 2]) == 1 then
    return claim(k, n, at, owner, leaseMs, micros)
  end
  return false
end
