--[[
  append: one producer's batch of records to one shard, exactly once, in one atomic step (the
  idempotent producer). The records of a batch carry the producer's sequence numbers
  first, first + 1, …; the producer's state on the shard remembers its epoch, the last sequence
  it appended and the stream ids of its last `window` appended batches.
  1. Fencing: a batch of an older epoch than the stored one (another process started with the
     same producer id since) is refused; nothing is written.
  2. Gap: when records the producer counts as appended (every sequence below `floor`) are not on
     record (last + 1 < floor: the shard lost writes), the batch is refused; nothing is written.
  3. Records whose sequence is ≤ last were appended already (a retry, or a command resent after
     a lost reply): they are not appended again, their stream ids are answered from the window.
     When one is older than the window, the whole batch is refused (stale); nothing is written.
  4. The other records (sequence > last) are appended (one XADD each: the first `*`, the others
     `<ms>-*`, so their ids are `<ms>-<k>`, `<ms>-<k+1>`, … and a batch's ids are kept as four
     numbers), the window takes the batch
     (forgetting its oldest beyond `window`), the stream is trimmed as before (XTRIM MINID ~) and
     the state's time to live is set to `ttl` (the stream's retention).
  With no state (a new producer, or one idle longer than its time to live) any first sequence is
  taken.
    KEYS[1] the shard's stream   KEYS[2] the producer's state on that shard (a string:
      "<epoch> <last>" then "|<first>,<count>,<ms>,<k>" per remembered batch, oldest first)
    ARGV[1] epoch   ARGV[2] first sequence   ARGV[3] floor (≤ first)   ARGV[4] trim min id
    ARGV[5] ttl (ms)   ARGV[6] window (batches remembered)   ARGV[7 ..] the payloads, in order
  Returns the stream ids of the payloads as runs of consecutive ids (a payload's id is
    `<ms>-<k + j>`, j its place in its run): {index of the run's first payload (1-based), count,
    ms, k, …}, in order — not one string per payload, which would cost Redis and the client more
    than the XADDs; or {-1, stored epoch} fenced, {-2, last} gap, {-3, last} stale.
]]
local rcall = redis.call
local epoch, first, floor = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = #ARGV - 6
local state = rcall('GET', KEYS[2])
local last, window = first - 1, ''
if state then
  local e, l, w = string.match(state, '^(%d+) (%d+)(.*)$')
  if epoch < tonumber(e) then return { -1, tonumber(e) } end
  last, window = tonumber(l), w
  if last + 1 < floor then return { -2, last } end
end

local runs = {}
-- 3. What was appended already: first .. min(last, first + n - 1), as runs of the window's batches.
local known = math.min(last, first + n - 1) - first + 1
if known > 0 then
  local found = 0
  for f, c, ms, k in string.gmatch(window, '|(%d+),(%d+),(%d+),(%d+)') do
    f, c = tonumber(f), tonumber(c)
    local from, to = math.max(f, first), math.min(f + c - 1, first + known - 1)
    if from <= to then
      runs[#runs + 1] = from - first + 1
      runs[#runs + 1] = to - from + 1
      runs[#runs + 1] = tonumber(ms)
      runs[#runs + 1] = tonumber(k) + from - f
      found = found + to - from + 1
    end
  end
  if found < known then return { -3, last } end
end

-- 4. The rest.
if known < n then
  local start = known + 1
  if start < 1 then start = 1 end -- a jump over sequences the producer gave up (floor ≤ last + 1)
  local id = rcall('XADD', KEYS[1], '*', 'd', ARGV[6 + start])
  local ms, k = string.match(id, '^(%d+)-(%d+)$')
  k = tonumber(k)
  -- `<ms>-*` (Redis ≥ 7): the same ms as the top entry, so the next k — consecutive ids, with
  -- no id to format per record.
  local same = ms .. '-*'
  for i = start + 1, n do
    rcall('XADD', KEYS[1], same, 'd', ARGV[6 + i])
  end
  runs[#runs + 1] = start
  runs[#runs + 1] = n - start + 1
  runs[#runs + 1] = tonumber(ms)
  runs[#runs + 1] = k
  last = first + n - 1
  window = window .. '|' .. string.format('%d,%d,', first + start - 1, n - start + 1) .. ms .. ','
    .. string.format('%d', k)
  local _, count = string.gsub(window, '|', '|')
  if count > tonumber(ARGV[6]) then
    local second = string.find(window, '|', 2, true) -- the oldest batch goes
    window = string.sub(window, second)
  end
end
rcall('XTRIM', KEYS[1], 'MINID', '~', ARGV[4])
rcall('SET', KEYS[2], string.format('%d %d', epoch, last) .. window, 'PX', ARGV[5])
return runs
