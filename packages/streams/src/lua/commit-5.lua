--[[
  commit: one round's commit, exclusive and idempotent, in one atomic step. Nothing is written
  unless every check passes.
  1. A commit whose id is on record (its earlier attempt ran, its reply was lost) is answered
     "already committed" and writes nothing (no second log entry, whoever holds the leases now).
  2. Every lease given must still be the caller's with its token (the fencing check).
  3. Compare-and-set: every shard's stored checkpoint must still be the one the round read from
     ('' for none): another round committed that range already otherwise.
  4. Then it extends the leases, moves the checkpoints given, stores the write-ahead log entry and
     records the commit's id (kept `keep` ms, forgotten after).
    KEYS[1] leases hash   KEYS[2] checkpoints hash: shard -> sequence
    KEYS[3] wal hash: id -> entry   KEYS[4] wal index zset: id by commit time (ms)
    KEYS[5] commits zset: commit id by commit time (ms)
    ARGV[1] owner   ARGV[2] ttl (ms)   ARGV[3] commit id   ARGV[4] wal entry ('' for none)
    ARGV[5] keep (ms)   ARGV[6] n
    ARGV[7 ..] n quadruples shard, token, from, sequence ('' for none)
  Returns {0} committed, {1} already committed, {-1, shard} lease lost,
    {-2, shard, current} checkpoint would go back, {-3, shard, current ('' for none)} the stored
    checkpoint is not the one the round read from.
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner, ttl, id, wal = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local keep, n = tonumber(ARGV[5]), tonumber(ARGV[6])

if rcall('ZSCORE', KEYS[5], id) then return { 1 } end

-- Sequences `<ms>-<n>` (or decimal strings): true when a < b.
local function before(a, b)
  local am, an = string.match(a, '^(%d+)-?(%d*)$')
  local bm, bn = string.match(b, '^(%d+)-?(%d*)$')
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  an, bn = an == '' and '0' or an, bn == '' and '0' or bn
  if #an ~= #bn then return #an < #bn end
  return an < bn
end

for i = 0, n - 1 do
  local shard, token = ARGV[7 + 4 * i], ARGV[8 + 4 * i]
  local from, sequence = ARGV[9 + 4 * i], ARGV[10 + 4 * i]
  local current = rcall('HGET', KEYS[1], shard)
  if not current or string.match(current, '^(.*)|%d+|%d+$') ~= owner
      or string.match(current, '|(%d+)|%d+$') ~= token then
    return { -1, tonumber(shard) }
  end
  local checkpoint = rcall('HGET', KEYS[2], shard) or ''
  if checkpoint ~= from then return { -3, tonumber(shard), checkpoint } end
  if sequence ~= '' and checkpoint ~= '' and before(sequence, checkpoint) then
    return { -2, tonumber(shard), checkpoint }
  end
end
for i = 0, n - 1 do
  local shard, token, sequence = ARGV[7 + 4 * i], ARGV[8 + 4 * i], ARGV[10 + 4 * i]
  rcall('HSET', KEYS[1], shard, owner .. '|' .. token .. '|' .. (now + ttl))
  if sequence ~= '' then rcall('HSET', KEYS[2], shard, sequence) end
end
if wal ~= '' then
  rcall('HSET', KEYS[3], id, wal)
  rcall('ZADD', KEYS[4], now, id)
end
rcall('ZADD', KEYS[5], now, id)
rcall('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - keep)
return { 0 }
