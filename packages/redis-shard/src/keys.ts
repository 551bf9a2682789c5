/**
 * Key names. Every key of a resource carries the hash tag `{ns:R}`, so all of them live on one
 * node and in one Redis Cluster slot and every per-resource script is single-slot. Scripts never
 * build key names: these functions are the only place they are made.
 */

/** The fixed keys of a resource, in the order the scripts receive them (see lua/includes/resource.lua). */
const FIXED = [
  'holders',
  'mods',
  'exec',
  'deltas',
  'execDeltas',
  'epoch',
  'expire',
  'evicted',
] as const

/** `{ns:R}`: the hash tag of a resource. */
export function resourceTag(ns: string, resourceId: string): string {
  return `{${ns}:${resourceId}}`
}

/** The keys of a resource for the per-resource scripts: the fixed ones, then a state/claimed pair per field. */
export function resourceKeys(
  ns: string,
  resourceId: string,
  fieldNames: readonly string[],
): string[] {
  const tag = resourceTag(ns, resourceId)
  const keys = FIXED.map((name) => `${tag}:${name}`)
  for (const field of fieldNames) keys.push(`${tag}:f:${field}`, `${tag}:x:${field}`)
  return keys
}

/** A single fixed key of a resource. */
export function resourceKey(
  ns: string,
  resourceId: string,
  name: (typeof FIXED)[number] | 'lock' | 'fence',
): string {
  return `${resourceTag(ns, resourceId)}:${name}`
}

/** The registry of a worker: resource id → update type name, for recovery. */
export function registryKey(ns: string, workerId: string): string {
  return `{${ns}:w:${workerId}}:registry`
}

/** The heartbeats of all workers: worker id → server time (ms). */
export function workersKey(ns: string): string {
  return `{${ns}}:workers`
}

/** The lock that makes one worker at a time recover a dead one (same slot as the heartbeats). */
export function recoveryKey(ns: string, deadWorkerId: string): string {
  return `{${ns}}:recover:${deadWorkerId}`
}
