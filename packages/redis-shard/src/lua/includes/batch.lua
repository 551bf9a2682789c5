-- Per-resource scripts take a batch of resources that live on one node (one slot in a Cluster),
-- so one call pays the script's overhead for many resources:
--   ARGV[1]      the number of resources
--   then, per resource: its number of keys, its number of arguments, its arguments
--   KEYS         each resource's keys in turn
-- forEachResource(fn) calls fn(k, a) for each resource, where the resource's i-th key is
-- KEYS[k + i] and its i-th argument ARGV[a + i] (read in place, not copied), and returns their
-- replies in order.
local function forEachResource(fn)
  local replies, k, at = {}, 0, 2
  for r = 1, tonumber(ARGV[1]) do
    local nkeys, nargs = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
    replies[r] = fn(k, at + 1)
    k, at = k + nkeys, at + 2 + nargs
  end
  return replies
end
