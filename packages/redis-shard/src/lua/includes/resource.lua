-- The keys of one resource, in the order every per-resource script receives them as `keys`
-- (all share the resource's hash tag, so each resource touches one Cluster slot):
--   keys[1] holders      hash   holder token -> last refresh (ms)
--   keys[2] mods         string times modified in the current session (exists iff state is pending)
--   keys[3] exec         hash   the claimed execution: epoch, owner, lease (ms deadline)
--   keys[4] deltas       list   encoded states of custom updates
--   keys[5] execDeltas   list   the deltas of the claimed execution
--   keys[6] epoch        string the last epoch handed out
--   keys[7] expire       string set by forceExpiry
--   keys[8] evicted      set    holder tokens removed by recovery (their late releases still fold)
--   keys[9 + 2(i-1)]     the state of field i;  keys[10 + 2(i-1)]  its claimed copy
local FIXED = 8
local EVICTED_TTL_MS = 7 * 24 * 3600 * 1000
local EPOCH_TTL_MS = 30 * 24 * 3600 * 1000

local function stateKey(keys, i) return keys[FIXED + 2 * i - 1] end
local function claimedKey(keys, i) return keys[FIXED + 2 * i] end

-- Folds one release's or fold's delta: field folds, or an encoded custom update. Returns whether
-- anything was folded.
local function foldDelta(keys, fields, delta)
  local folded = false
  for i, field in ipairs(fields) do
    if #field.args > 0 and field.op ~= 'none' then
      foldField(stateKey(keys, i), field)
      folded = true
    end
  end
  if delta and delta ~= '' then
    rcall('RPUSH', keys[4], delta)
    folded = true
  end
  if folded then rcall('INCR', keys[2]) end
  return folded
end

-- The reply of a claim: {2, epoch, total of field 1 .. n, deltas}.
local function claimReply(keys, fields, epoch)
  local reply = { 2, epoch }
  for i, field in ipairs(fields) do reply[#reply + 1] = readField(claimedKey(keys, i), field.op) end
  reply[#reply + 1] = rcall('LRANGE', keys[5], 0, -1)
  return reply
end

-- Moves the pending state to the claimed copies under a new epoch owned by `owner`.
-- Epochs strictly increase per resource and never repeat: max(last + 1, server time in µs).
local function claim(keys, fields, owner, leaseMs, t)
  local time = rcall('TIME')
  local micros = tonumber(time[1]) * 1000000 + tonumber(time[2])
  local last = tonumber(rcall('GET', keys[6]) or '0')
  local epoch = string.format('%.0f', math.max(last + 1, micros))
  rcall('SET', keys[6], epoch, 'PX', EPOCH_TTL_MS)
  for i = 1, #fields do
    if rcall('EXISTS', stateKey(keys, i)) == 1 then rcall('RENAME', stateKey(keys, i), claimedKey(keys, i)) end
  end
  if rcall('EXISTS', keys[4]) == 1 then rcall('RENAME', keys[4], keys[5]) end
  rcall('DEL', keys[2], keys[7])
  rcall('HSET', keys[3], 'epoch', epoch, 'owner', owner, 'lease', t + leaseMs)
  return claimReply(keys, fields, epoch)
end

-- Claims the pending state when no holder is left, nothing is being executed and state is pending.
local function claimIfIdle(keys, fields, owner, leaseMs, t)
  if rcall('HLEN', keys[1]) == 0 and rcall('EXISTS', keys[3]) == 0 and rcall('EXISTS', keys[2]) == 1 then
    return claim(keys, fields, owner, leaseMs, t)
  end
  return false
end
