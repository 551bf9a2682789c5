-- Per-resource scripts take a batch of resources that live on one node (one slot in a Cluster),
-- so one call pays the script's overhead for many resources:
--   ARGV[1]      the number of resources
--   then, per resource: its number of keys, its number of arguments, its arguments
--   KEYS         each resource's keys in turn
-- forEachResource(fn) calls fn(keys, args) for each resource and returns their replies in order.
local function forEachResource(fn)
  local replies, base, at = {}, 0, 2
  for r = 1, tonumber(ARGV[1]) do
    local nkeys, nargs = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
    local keys, args = {}, {}
    for i = 1, nkeys do keys[i] = KEYS[base + i] end
    for i = 1, nargs do args[i] = ARGV[at + 1 + i] end
    replies[r] = fn(keys, args)
    base, at = base + nkeys, at + 2 + nargs
  end
  return replies
end
