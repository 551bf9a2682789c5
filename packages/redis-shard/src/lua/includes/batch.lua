-- The batch layout of the per-resource scripts (release, fold, complete, evict): one call serves
-- resources of one node (one slot in a Cluster).
--   ARGV[1] number of resources   ARGV[2] lease (ms)   ARGV[3] the caller's incarnation
--   ARGV[4] the retry window (ms): how long released records outlive a resource's last release
--   ARGV[5] T, the number of type specs
--   ARGV[6 .. 5+T] type specs: comma-separated fold codes (OP), each with an optional number
--           (rpush's cap, zadd's keep): 'i,i', 'l4,s,z3'; '*' is a custom update type
--   then, per resource: its type's index (1..T), then the script's own arguments.
--   KEYS: per resource, its hash `{ns:R}`, its released-records key, then a
--         pending/claimed key pair per collection field, or `deltas`/`claimed deltas` (custom).
local rcall = redis.call
local LEASE, INCARNATION, RETRY_WINDOW = tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local COLLECTION = { l = 'list', s = 'set', h = 'string', z = 'zset', c = 'hash' }

local function parseSpec(text)
  local spec = { fields = {}, custom = text == '*', extra = 0 }
  if spec.custom then
    spec.extra = 2
    return spec
  end
  for item in string.gmatch(text, '[^,]+') do
    local f = { op = string.sub(item, 1, 1), param = tonumber(string.sub(item, 2)), i = #spec.fields + 1 }
    if COLLECTION[f.op] then
      spec.extra = spec.extra + 2
      f.coll = spec.extra - 1
    end
    spec.fields[#spec.fields + 1] = f
  end
  return spec
end

local SPECS = {}
for t = 1, tonumber(ARGV[5]) do SPECS[t] = parseSpec(ARGV[5 + t]) end

-- forEachResource(hasReleased, fn) (acquire has no released-records key; the others do): fn(r, at) for each resource r = { spec, main, released,
-- base } (KEYS[base] is its first collection key), ARGV[at] its type index and its arguments
-- after it; fn returns
-- (reply, next argument index). Returns the replies.
local function forEachResource(hasReleased, fn)
  local replies, k, at = {}, 0, 6 + tonumber(ARGV[5])
  for i = 1, tonumber(ARGV[1]) do
    local spec = SPECS[tonumber(ARGV[at])]
    local r = { spec = spec, main = KEYS[k + 1] }
    local base = k + 2
    if hasReleased then
      r.released = KEYS[k + 2]
      base = k + 3
    end
    r.base = base
    local reply
    reply, at = fn(r, at)
    replies[i] = reply
    k = base - 1 + spec.extra
  end
  return replies
end

-- The pending and claimed keys of a collection field (or of a custom update's deltas).
local function pendingKey(r, f) return KEYS[r.base + (f and f.coll or 1) - 1] end
local function claimedKey(r, f) return KEYS[r.base + (f and f.coll or 1)] end
