--[[
  acquire: start a session of each resource of the batch (idempotent: a retry of the same
  token changes nothing).

  KEYS[i] the hash `{ns:R}` of resource i   ARGV[i] its hold token `<incarnation>:<sequence>`
  Returns, per resource, R.OK, or R.WRONG_TYPE when the key is not a hash (nothing written).
]]
--@include protocol

local replies = {}
for i = 1, #KEYS do
  local added = redis.pcall('HSETNX', KEYS[i], F.holder .. ARGV[i], 0)
  if type(added) == 'table' then
    replies[i] = R.WRONG_TYPE
  else
    if added == 1 then redis.call('HINCRBY', KEYS[i], F.count, 1) end
    replies[i] = R.OK
  end
end
return replies
