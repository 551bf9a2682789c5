-- now(): the server's time in milliseconds (scripts are effect-replicated, so TIME is allowed).
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
