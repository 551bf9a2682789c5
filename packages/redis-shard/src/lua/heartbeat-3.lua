--[[
  heartbeat: record an incarnation's liveness at server time and list the incarnations to
  recover: those whose heartbeat is older than the timeout and, at an incarnation's first beat,
  every other incarnation of the same worker name (a restarted process: the old one is dead).
  An incarnation whose own heartbeat is already stale is not refreshed: it must renew (its holds
  are being recovered as a dead incarnation's). So must one whose heartbeat is gone after its
  first beat: a recovery forgot it (its registry is deleted; coming back under the old name would
  leave its open sessions and claims in no registry), or Redis lost its data.

  KEYS[1] workers (incarnation -> last heartbeat, ms)   KEYS[2] names (incarnation -> name)
  KEYS[3] lineage (incarnation -> the incarnations it renewed from, space-separated)
  ARGV[1] incarnation   ARGV[2] name   ARGV[3] timeout (ms)
  ARGV[4] '-' for a regular beat; else this is the first beat, and it is the lineage ('' if none)

  Returns {1} when this incarnation's own heartbeat is stale or gone, else {0, dead, its lineage, ..}.
]]
--@include now

local t = now()
local inc, name, timeout, first = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4] ~= '-'
local own = redis.call('HGET', KEYS[1], inc)
if (own and t - tonumber(own) > timeout) or (not own and not first) then return { 1 } end
redis.call('HSET', KEYS[1], inc, t)
if first then
  redis.call('HSET', KEYS[2], inc, name)
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], inc, ARGV[4]) end
end
local reply = { 0 }
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local other = all[i]
  if other ~= inc and (t - tonumber(all[i + 1]) > timeout or (first and redis.call('HGET', KEYS[2], other) == name)) then
    reply[#reply + 1] = other
    reply[#reply + 1] = redis.call('HGET', KEYS[3], other) or ''
  end
end
return reply
