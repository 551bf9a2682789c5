--[[
  heartbeat: records a member as alive until now + ttl, forgets the expired ones.
    KEYS[1] members zset: member -> alive until (ms)
    ARGV[1] member   ARGV[2] ttl (ms)
  Returns the live members, sorted.
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
rcall('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
rcall('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = rcall('ZRANGE', KEYS[1], 0, -1)
table.sort(members)
return members
