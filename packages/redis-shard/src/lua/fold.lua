--[[
  fold: fold a partial aggregate into the shared state of each resource of the batch while
  keeping the hold (phonon's cache() and init_cache); increments times-modified when anything
  was folded.

  Batch layout: includes/batch.lua. Per resource:
    KEYS[k + i]: the resource's keys (includes/resource.lua)
    ARGV[a+1] holder token   ARGV[a+2] n, the number of fields; then n field specs;
    ARGV[a + last] the encoded custom update, or ''

  Returns, per resource: {-1} when not a holder (nothing folded); {-3} when recovery removed the
  hold (the delta is folded; the session is over: release it); else {timesModified, forced 0|1}.
]]
--@include now
--@include fields
--@include resource
--@include batch

local t = now()
return forEachResource(function(k, a)
  local holder = ARGV[a + 1]
  local held = rcall('HEXISTS', KEYS[k + 1], holder) == 1
  if not held and rcall('SISMEMBER', KEYS[k + 8], holder) == 0 then return { -1 } end
  foldDelta(k, tonumber(ARGV[a + 2]), a + 3)
  if not held then return { -3 } end
  rcall('HSET', KEYS[k + 1], holder, t)
  return { tonumber(rcall('GET', KEYS[k + 2]) or '0'), rcall('EXISTS', KEYS[k + 7]) }
end)
