-- Field folds and reads, as @phonon/core describes them (Field.redis).
-- A field spec in ARGV is: op, param, argc, arg1 .. argc (param: the cap of rpush, the keep of
-- zadd, '' otherwise). parseFields(argv, from, n) reads n specs starting at argv[from].

local rcall = redis.call
local CHUNK = 1000

-- Calls `command key [option] args...` in chunks of CHUNK (even, so pairs stay whole) arguments,
-- so that no call unpacks more than Lua's stack allows.
local function chunked(command, key, args, option)
  for i = 1, #args, CHUNK do
    local last = math.min(i + CHUNK - 1, #args)
    if option then
      rcall(command, key, option, unpack(args, i, last))
    else
      rcall(command, key, unpack(args, i, last))
    end
  end
end

local function parseFields(argv, from, n)
  local fields, at = {}, from
  for i = 1, n do
    local argc = tonumber(argv[at + 2])
    local args = {}
    for j = 1, argc do args[j] = argv[at + 2 + j] end
    fields[i] = { op = argv[at], param = argv[at + 1], args = args }
    at = at + 3 + argc
  end
  return fields, at
end

local function foldField(key, field)
  local op, args = field.op, field.args
  if #args == 0 or op == 'none' then return end
  if op == 'incrby' then
    rcall('INCRBY', key, args[1])
  elseif op == 'incrbyfloat' then
    rcall('INCRBYFLOAT', key, args[1])
  elseif op == 'max' or op == 'min' then
    local current = rcall('GET', key)
    local x = tonumber(args[1])
    if not current or (op == 'max' and x > tonumber(current)) or (op == 'min' and x < tonumber(current)) then
      rcall('SET', key, args[1])
    end
  elseif op == 'lastWrite' then
    -- hash { at, value }: a later `at` wins, ties go to the larger JSON text (byte order)
    local stored = rcall('HMGET', key, 'at', 'value')
    local at = tonumber(args[1])
    if not stored[1] or at > tonumber(stored[1]) or (at == tonumber(stored[1]) and args[2] > stored[2]) then
      rcall('HSET', key, 'at', args[1], 'value', args[2])
    end
  elseif op == 'rpush' then
    chunked('RPUSH', key, args)
    if field.param ~= '' then rcall('LTRIM', key, -tonumber(field.param), -1) end
  elseif op == 'sadd' then
    chunked('SADD', key, args)
  elseif op == 'pfadd' then
    chunked('PFADD', key, args)
  elseif op == 'zadd' then
    chunked('ZADD', key, args, 'GT')
    rcall('ZREMRANGEBYRANK', key, 0, -(tonumber(field.param) + 1))
  elseif op == 'hincrby' then
    for i = 1, #args, 2 do rcall('HINCRBY', key, args[i], args[i + 1]) end
  else
    error('unknown field fold ' .. tostring(op))
  end
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
