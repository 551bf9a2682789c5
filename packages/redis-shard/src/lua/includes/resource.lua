-- The keys of one resource, in the order every per-resource script receives them (all share the
-- resource's hash tag, so each script touches one Cluster slot):
--   KEYS[1] holders      hash   holder token -> last refresh (ms)
--   KEYS[2] mods         string times modified in the current session (exists iff state is pending)
--   KEYS[3] exec         hash   the claimed execution: epoch, owner, lease (ms deadline)
--   KEYS[4] deltas       list   encoded states of custom updates
--   KEYS[5] execDeltas   list   the deltas of the claimed execution
--   KEYS[6] epoch        string the last epoch handed out
--   KEYS[7] expire       string set by forceExpiry
--   KEYS[8] evicted      set    holder tokens removed by recovery (their late releases still fold)
--   KEYS[9 + 2(i-1)]     the state of field i;  KEYS[10 + 2(i-1)]  its claimed copy
local FIXED = 8
local EVICTED_TTL_MS = 7 * 24 * 3600 * 1000
local EPOCH_TTL_MS = 30 * 24 * 3600 * 1000

local function stateKey(i) return KEYS[FIXED + 2 * i - 1] end
local function claimedKey(i) return KEYS[FIXED + 2 * i] end

-- Folds one release's or fold's delta: field folds, or an encoded custom update. Returns whether
-- anything was folded.
local function foldDelta(fields, delta)
  local folded = false
  for i, field in ipairs(fields) do
    if #field.args > 0 and field.op ~= 'none' then
      foldField(stateKey(i), field)
      folded = true
    end
  end
  if delta and delta ~= '' then
    rcall('RPUSH', KEYS[4], delta)
    folded = true
  end
  if folded then rcall('INCR', KEYS[2]) end
  return folded
end

-- The reply of a claim: {2, epoch, total of field 1 .. n, deltas}.
local function claimReply(fields, epoch)
  local reply = { 2, epoch }
  for i, field in ipairs(fields) do reply[#reply + 1] = readField(claimedKey(i), field.op) end
  reply[#reply + 1] = rcall('LRANGE', KEYS[5], 0, -1)
  return reply
end

-- Moves the pending state to the claimed copies under a new epoch owned by `owner`.
-- Epochs strictly increase per resource and never repeat: max(last + 1, server time in µs).
local function claim(fields, owner, leaseMs, t)
  local time = rcall('TIME')
  local micros = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local last = tonumber(rcall('GET', KEYS[6]) or '0')
  local epoch = string.format('%.0f', math.max(last + 1, micros))
  rcall('SET', KEYS[6], epoch, 'PX', EPOCH_TTL_MS)
  for i = 1, #fields do
    if rcall('EXISTS', stateKey(i)) == 1 then rcall('RENAME', stateKey(i), claimedKey(i)) end
  end
  if rcall('EXISTS', KEYS[4]) == 1 then rcall('RENAME', KEYS[4], KEYS[5]) end
  rcall('DEL', KEYS[2], KEYS[7])
  rcall('HSET', KEYS[3], 'epoch', epoch, 'owner', owner, 'lease', t + leaseMs)
  return claimReply(fields, epoch)
end

-- Claims the pending state when no holder is left, nothing is being executed and state is pending.
local function claimIfIdle(fields, owner, leaseMs, t)
  if rcall('HLEN', KEYS[1]) == 0 and rcall('EXISTS', KEYS[3]) == 0 and rcall('EXISTS', KEYS[2]) == 1 then
    return claim(fields, owner, leaseMs, t)
  end
  return false
end
