--[[
  complete: end a claimed execution after the sink wrote it (invariant 3: the claimed state is
  deleted only now), then claim the state that accumulated meanwhile if no holder is left.

  KEYS: the resource's keys (includes/resource.lua).
  ARGV[1] epoch   ARGV[2] owner (worker id)   ARGV[3] lease (ms)
  ARGV[4] n, the number of fields; then n field specs (ops only, no args)

  Returns {-2} when the epoch is not the claimed one (completed already, or never claimed),
  {0} when completed, or {2, epoch, totals .., deltas} when completed and the next state claimed.
]]
--@include now
--@include fields
--@include resource

local t = now()
if rcall('HGET', KEYS[3], 'epoch') ~= ARGV[1] then return { -2 } end
local fields = parseFields(ARGV, 5, tonumber(ARGV[4]))
rcall('DEL', KEYS[3], KEYS[5])
for i = 1, #fields do rcall('DEL', claimedKey(i)) end
return claimIfIdle(fields, ARGV[2], tonumber(ARGV[3]), t) or { 0 }
