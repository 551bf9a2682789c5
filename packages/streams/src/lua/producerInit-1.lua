--[[
  producerInit: a process starting with a producer id it was given takes the next epoch of that
  id on one shard (fencing every older process of the id: their batches are refused from now on)
  and learns the last sequence the id appended there, to continue after it. Sent again after a
  lost reply it takes one more epoch, which fences nothing that ran.
    KEYS[1] the producer's state on the shard (see append-2.lua)
    ARGV[1] ttl (ms)
  Returns {epoch, last}: last is 0 when the id has no state (new, or idle past its time to live).
]]
local rcall = redis.call
local state = rcall('GET', KEYS[1])
local epoch, last, window = 1, 0, ''
if state then
  local e, l, w = string.match(state, '^(%d+) (%d+)(.*)$')
  epoch, last, window = tonumber(e) + 1, tonumber(l), w
end
rcall('SET', KEYS[1], string.format('%d %d', epoch, last) .. window, 'PX', ARGV[1])
return { epoch, last }
