--[[
  release: end one session of a resource in one atomic step (invariant 2): remove the holder, fold
  its delta, and if no holder is left, claim the execution of the global aggregate.

  KEYS: the resource's keys (includes/resource.lua), one state/claimed pair per field.
  ARGV[1] holder token (this session)   ARGV[2] owner (worker id)   ARGV[3] lease (ms)
  ARGV[4] n, the number of fields; then n field specs (includes/fields.lua)
  ARGV[last] the encoded custom update to push to deltas, or ''

  A session whose hold recovery removed (its worker was presumed dead) still folds its delta: as
  a late release into the pending state.

  Returns:
    {-1}   not a holder: this session was released already; nothing folded (retries are safe)
    {0}    released; other holders remain
    {1}    released as the last holder, but an execution is still pending: the pending state is
           claimed by whoever completes that execution
    {3}    released as the last holder with nothing pending to execute
    {2, epoch, total 1 .. n, deltas}   released as the last holder and claimed this epoch
]]
--@include now
--@include fields
--@include resource

local t = now()
if rcall('HDEL', KEYS[1], ARGV[1]) == 0 and rcall('SREM', KEYS[8], ARGV[1]) == 0 then return { -1 } end
local fields, at = parseFields(ARGV, 5, tonumber(ARGV[4]))
foldDelta(fields, ARGV[at])
if rcall('HLEN', KEYS[1]) > 0 then return { 0 } end
if rcall('EXISTS', KEYS[3]) == 1 then return { 1 } end
return claimIfIdle(fields, ARGV[2], tonumber(ARGV[3]), t) or { 3 }
