--[[
  fold: fold a partial aggregate into the shared state of each resource of the batch while
  keeping the hold (phonon's cache() and init_cache); increments times-modified when anything
  was folded.

  Batch layout: includes/batch.lua. Per resource:
    keys: the resource's keys (includes/resource.lua)
    args[1] holder token   args[2] n, the number of fields; then n field specs;
    args[last] the encoded custom update, or ''

  Returns, per resource: {-1} when not a holder (nothing folded); {-3} when recovery removed the
  hold (the delta is folded; the session is over: release it); else {timesModified, forced 0|1}.
]]
--@include now
--@include fields
--@include resource
--@include batch

local t = now()
return forEachResource(function(keys, args)
  local held = rcall('HEXISTS', keys[1], args[1]) == 1
  if not held and rcall('SISMEMBER', keys[8], args[1]) == 0 then return { -1 } end
  local fields, at = parseFields(args, 3, tonumber(args[2]))
  foldDelta(keys, fields, args[at])
  if not held then return { -3 } end
  rcall('HSET', keys[1], args[1], t)
  return { tonumber(rcall('GET', keys[2]) or '0'), rcall('EXISTS', keys[7]) }
end)
