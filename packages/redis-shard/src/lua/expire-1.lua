--[[
  expire: phonon's forceExpiry. Marks a resource that has state (held, pending or claimed) so
  that its next release, by any holder, claims the pending state at once; holders see the mark
  at their next fold. An idle resource has nothing to expire: no key is created for it.

  KEYS[1] the resource's hash
  Returns 1 when marked, 0 when the resource is idle.
]]
--@include protocol

if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], F.forced, 1)
return 1
