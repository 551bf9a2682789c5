--[[
  commit: in one atomic step, checks that every lease given is still the caller's with its
  token (the fencing check), extends them, moves the checkpoints given forward, and stores a
  write-ahead log entry. Nothing is written unless every check passes.
    KEYS[1] leases hash   KEYS[2] checkpoints hash: shard -> sequence
    KEYS[3] wal hash: id -> entry   KEYS[4] wal index zset: id by commit time (ms)
    ARGV[1] owner   ARGV[2] ttl (ms)   ARGV[3] n
    ARGV[4 ..] n triples shard, token, sequence ('' for none)   then wal id, wal entry ('' for none)
  Returns {0} committed, {-1, shard} lease lost, {-2, shard, current} checkpoint would go back.
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local owner, ttl, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

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
  local shard, token, sequence = ARGV[4 + 3 * i], ARGV[5 + 3 * i], ARGV[6 + 3 * i]
  local current = rcall('HGET', KEYS[1], shard)
  if not current or string.match(current, '^(.*)|%d+|%d+$') ~= owner
      or string.match(current, '|(%d+)|%d+$') ~= token then
    return { -1, tonumber(shard) }
  end
  if sequence ~= '' then
    local checkpoint = rcall('HGET', KEYS[2], shard)
    if checkpoint and before(sequence, checkpoint) then return { -2, tonumber(shard), checkpoint } end
  end
end
for i = 0, n - 1 do
  local shard, token, sequence = ARGV[4 + 3 * i], ARGV[5 + 3 * i], ARGV[6 + 3 * i]
  rcall('HSET', KEYS[1], shard, owner .. '|' .. token .. '|' .. (now + ttl))
  if sequence ~= '' then rcall('HSET', KEYS[2], shard, sequence) end
end
local walId, wal = ARGV[4 + 3 * n], ARGV[5 + 3 * n]
if wal ~= '' then
  rcall('HSET', KEYS[3], walId, wal)
  rcall('ZADD', KEYS[4], now, walId)
end
return { 0 }
