--[[
  leaseAcquire: takes a shard's lease when it is free, expired, or already the caller's, with a
  new fencing token (strictly increasing per shard, never reused).
    KEYS[1] leases hash: shard -> "owner|token|expiresAt"   KEYS[2] tokens hash: shard -> last token
    ARGV[1] shard   ARGV[2] owner   ARGV[3] ttl (ms)
  Returns the new token, or -1 when another owner holds an unexpired lease.
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local current = rcall('HGET', KEYS[1], ARGV[1])
if current then
  local owner, _, expires = string.match(current, '^(.*)|(%d+)|(%d+)$')
  if owner ~= ARGV[2] and tonumber(expires) > now then return -1 end
end
local token = rcall('HINCRBY', KEYS[2], ARGV[1], 1)
rcall('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. token .. '|' .. (now + tonumber(ARGV[3])))
return token
