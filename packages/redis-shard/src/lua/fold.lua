--[[
  fold: fold a partial aggregate into the shared state while keeping the hold (phonon's cache()
  and init_cache); increments times-modified when anything was folded.

  KEYS: the resource's keys (includes/resource.lua).
  ARGV[1] holder token   ARGV[2] n, the number of fields; then n field specs; ARGV[last] the
  encoded custom update, or ''

  Returns {-1} when not a holder (nothing folded); {-3} when recovery removed the hold (the delta
  is folded; the session is over: release it); else {timesModified, forcedExpiry 0|1}.
]]
--@include now
--@include fields
--@include resource

local held = rcall('HEXISTS', KEYS[1], ARGV[1]) == 1
if not held and rcall('SISMEMBER', KEYS[8], ARGV[1]) == 0 then return { -1 } end
local fields, at = parseFields(ARGV, 3, tonumber(ARGV[2]))
foldDelta(fields, ARGV[at])
if not held then return { -3 } end
rcall('HSET', KEYS[1], ARGV[1], now())
return { tonumber(rcall('GET', KEYS[2]) or '0'), rcall('EXISTS', KEYS[7]) }
