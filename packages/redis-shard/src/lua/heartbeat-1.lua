--[[
  heartbeat: record a worker's liveness at server time and list the workers whose heartbeat is
  older than the timeout. A worker whose own heartbeat is already stale is not refreshed: it must
  take a new id (its holds are being recovered as a dead worker's).

  KEYS[1] workers (hash worker id -> last heartbeat, ms)
  ARGV[1] worker id   ARGV[2] timeout (ms)

  Returns {1} when this worker's own heartbeat is stale, else {0, dead worker ids ..}.
]]
--@include now

local t = now()
local timeout = tonumber(ARGV[2])
local own = redis.call('HGET', KEYS[1], ARGV[1])
if own and t - tonumber(own) > timeout then return { 1 } end
redis.call('HSET', KEYS[1], ARGV[1], t)
local reply = { 0 }
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if t - tonumber(all[i + 1]) > timeout then reply[#reply + 1] = all[i] end
end
return reply
