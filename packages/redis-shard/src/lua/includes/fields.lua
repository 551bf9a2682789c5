-- Field folds and reads, as @phonon/core describes them (Field.redis).
-- A field spec in ARGV is: op, param, argc, arg1 .. argc (param: the cap of rpush, the keep of
-- zadd, '' otherwise). Specs are read in place from ARGV, without copying.

local rcall = redis.call
local CHUNK = 1000

-- Calls `command key [option] ARGV[from .. from + count - 1]` in chunks of CHUNK arguments
-- (even, so pairs stay whole), so that no call unpacks more than Lua's stack allows.
local function chunked(command, key, from, count, option)
  for i = from, from + count - 1, CHUNK do
    local last = math.min(i + CHUNK - 1, from + count - 1)
    if option then
      rcall(command, key, option, unpack(ARGV, i, last))
    else
      rcall(command, key, unpack(ARGV, i, last))
    end
  end
end

-- Folds the field whose spec starts at ARGV[at] into `key`; returns whether it folded anything.
local function foldField(key, at)
  local op, param, argc = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
  local a = at + 3
  if argc == 0 or op == 'none' then return false end
  if op == 'incrby' then
    rcall('INCRBY', key, ARGV[a])
  elseif op == 'incrbyfloat' then
    rcall('INCRBYFLOAT', key, ARGV[a])
  elseif op == 'max' or op == 'min' then
    local current = rcall('GET', key)
    local x = tonumber(ARGV[a])
    if not current or (op == 'max' and x > tonumber(current)) or (op == 'min' and x < tonumber(current)) then
      rcall('SET', key, ARGV[a])
    end
  elseif op == 'lastWrite' then
    -- hash { at, value }: a later `at` wins, ties go to the larger JSON text (byte order)
    local stored = rcall('HMGET', key, 'at', 'value')
    local t = tonumber(ARGV[a])
    if not stored[1] or t > tonumber(stored[1]) or (t == tonumber(stored[1]) and ARGV[a + 1] > stored[2]) then
      rcall('HSET', key, 'at', ARGV[a], 'value', ARGV[a + 1])
    end
  elseif op == 'rpush' then
    chunked('RPUSH', key, a, argc)
    if param ~= '' then rcall('LTRIM', key, -tonumber(param), -1) end
  elseif op == 'sadd' then
    chunked('SADD', key, a, argc)
  elseif op == 'pfadd' then
    chunked('PFADD', key, a, argc)
  elseif op == 'zadd' then
    chunked('ZADD', key, a, argc, 'GT')
    rcall('ZREMRANGEBYRANK', key, 0, -(tonumber(param) + 1))
  elseif op == 'hincrby' then
    for i = a, a + argc - 1, 2 do rcall('HINCRBY', key, ARGV[i], ARGV[i + 1]) end
  else
    error('unknown field fold ' .. tostring(op))
  end
  return true
end

-- The index of the spec after the one at ARGV[at].
local function nextSpec(at)
  return at + 3 + tonumber(ARGV[at + 2])
end

-- The total of a field as Field.readTotal expects it.
local function readField(key, op)
  if op == 'none' then return false end
  if op == 'incrby' or op == 'incrbyfloat' or op == 'max' or op == 'min' then return rcall('GET', key) end
  if op == 'lastWrite' then
    local stored = rcall('HMGET', key, 'at', 'value')
    if not stored[1] then return {} end
    return stored
  end
  if op == 'rpush' then return rcall('LRANGE', key, 0, -1) end
  if op == 'sadd' then return rcall('SMEMBERS', key) end
  if op == 'pfadd' then return rcall('PFCOUNT', key) end
  if op == 'zadd' then return rcall('ZRANGE', key, 0, -1, 'REV', 'WITHSCORES') end
  if op == 'hincrby' then return rcall('HGETALL', key) end
  error('unknown field fold ' .. tostring(op))
end
