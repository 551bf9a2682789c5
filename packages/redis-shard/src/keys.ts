/**
 * Key names. Every key of a resource carries the hash tag `{ns:R}`, so all of them live on one
 * node and in one Redis Cluster slot and every per-resource script is single-slot. Scripts never
 * build key names: these functions are the only place they are made.
 */

/** `{ns:R}`: the hash of a resource (holders, count, numeric state, claim), and its hash tag. */
export function resourceKey(ns: string, resourceId: string): string {
  return `{${ns}:${resourceId}}`
}

/** A key of the resource beside its hash: `r` (released records), `lock`, `fence`, or extra keys. */
export function resourceSubkey(ns: string, resourceId: string, name: string): string {
  return `{${ns}:${resourceId}}:${name}`
}

/**
 * The keys a per-resource script gets for one resource: its hash, its released records (release,
 * fold, complete, evict), then its type's extra keys (collection fields, custom deltas).
 */
export function resourceKeys(
  ns: string,
  resourceId: string,
  extra: readonly string[],
  withReleased: boolean,
): string[] {
  const keys = [resourceKey(ns, resourceId)]
  if (withReleased) keys.push(resourceSubkey(ns, resourceId, 'r'))
  for (const name of extra) keys.push(resourceSubkey(ns, resourceId, name))
  return keys
}

/** The registry of an incarnation: resource id → update type name, for recovery. */
export function registryKey(ns: string, incarnation: string): string {
  return `{${ns}:i:${incarnation}}`
}

/** The heartbeats (incarnation → ms), names and lineages of all incarnations: one slot. */
export function workersKeys(ns: string): [workers: string, names: string, lineage: string] {
  return [`{${ns}}:workers`, `{${ns}}:names`, `{${ns}}:lineage`]
}

/** The lock that makes one worker at a time recover a dead incarnation (same slot as the heartbeats). */
export function recoveryKey(ns: string, deadIncarnation: string): string {
  return `{${ns}}:recover:${deadIncarnation}`
}
