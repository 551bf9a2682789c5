-- The server's time in microseconds (scripts are effect-replicated, so TIME is allowed).
local function micros()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The server's time in milliseconds.
local function now()
  return math.floor(micros() / 1000)
end
