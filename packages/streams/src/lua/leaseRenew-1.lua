--[[
  leaseRenew: extends the caller's leases, or gives one up (ttl 0).
    KEYS[1] leases hash: shard -> "owner|token|expiresAt"
    ARGV[1] owner   ARGV[2] ttl (ms; 0 releases)   ARGV[3..] shard, token pairs
  Returns, per pair, 1 when the lease was still the caller's with that token, else 0.
]]
local rcall = redis.call
local t = rcall('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local result = {}
for i = 3, #ARGV, 2 do
  local shard, token = ARGV[i], ARGV[i + 1]
  local current = rcall('HGET', KEYS[1], shard)
  local ok = 0
  local holder, held = string.match(current or '', '^(.*)|(%d+)|%d+$')
  if holder == ARGV[1] and held == token then
    ok = 1
    if ttl == 0 then
      rcall('HDEL', KEYS[1], shard)
    else
      rcall('HSET', KEYS[1], shard, ARGV[1] .. '|' .. token .. '|' .. (now + ttl))
    end
  end
  result[#result + 1] = ok
end
return result
