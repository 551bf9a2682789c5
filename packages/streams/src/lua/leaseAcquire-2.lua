--[[
  leaseAcquire: takes a shard's lease when it is free, expired, or already the caller's, with a
  new fencing token (strictly increasing per shard, never reused). A token is at least the
  server's clock in ms, so tokens keep increasing when Redis lost its data (restarted without
  persistence): a lease taken before the loss can never be confused with one taken after it.
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
local last = tonumber(rcall('HGET', KEYS[2], ARGV[1]) or '0')
local token = string.format('%.0f', math.max(last + 1, now))
rcall('HSET', KEYS[2], ARGV[1], token)
rcall('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. token .. '|' .. string.format('%.0f', now + tonumber(ARGV[3])))
return tonumber(token)
