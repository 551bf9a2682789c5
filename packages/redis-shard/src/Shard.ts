import type { Update } from '@phonon/core'

/** A resource named without an update: its id and its codec type name. */
export interface ResourceRef {
  readonly resourceId: string
  readonly typeName: string
}

/** A session's hold on a resource: proof of `acquire`, needed to `fold` and `release`. */
export interface Hold {
  readonly resourceId: string
  /** The codec type name of the resource's updates. */
  readonly typeName: string
  /** Unique per session: `workerId/sequence`. Two sessions of one worker are two holders. */
  readonly holder: string
}

/** An execution this worker claimed: it must execute `update` and then complete the claim. */
export interface Claim {
  readonly resourceId: string
  readonly typeName: string
  /** Strictly increasing per resource, never reused: sinks dedupe on `(resourceId, epoch)`. */
  readonly epoch: number
  /** The global aggregate to execute. */
  readonly update: Update
}

/**
 * The result of ending a session. `last: true` carries the claim to execute; otherwise `reason`
 * says why not: other holders remain (`held`), an earlier execution is pending and whoever
 * completes it claims this state (`pending`), nothing was left to execute (`empty`), or this
 * session had been released already (`released`: a retried release, nothing folded).
 */
export type ReleaseResult =
  | { readonly last: true; readonly claim: Claim }
  | { readonly last: false; readonly reason: 'held' | 'pending' | 'empty' | 'released' }

/** The result of folding while keeping the hold. */
export interface FoldResult {
  /** Times the resource was modified in its current session. */
  readonly timesModified: number
  /** Whether `forceExpiry` was called: the holder should end its session. */
  readonly forcedExpiry: boolean
  /** Recovery removed this hold (the worker was presumed dead); the delta was folded anyway. */
  readonly evicted: boolean
}

/** Options of {@link Shard.lock}. */
export interface LockOptions {
  /** Wait for the lock (retrying with jitter) instead of failing at once. Default false. */
  readonly block?: boolean
  /** How long to wait when blocking (ms). Default 10,000. */
  readonly timeoutMs?: number
  /** How long the lock lives unless extended (ms). Default 30,000. */
  readonly ttlMs?: number
  /** Stops waiting. */
  readonly signal?: AbortSignal
}

/** A granted lock. */
export interface LockHandle {
  readonly resourceId: string
  /** Strictly increasing per resource across all grants: pass it to fenced sinks. */
  readonly fencingToken: number
  /** Releases the lock. @throws {@link LockNotOwned} when it expired or was taken over. */
  release(): Promise<void>
  /** Extends its time to live. @throws {@link LockNotOwned} when it expired or was taken over. */
  extend(ttlMs?: number): Promise<void>
}

/** Counters of what a shard did, for metrics. */
export interface ShardStats {
  readonly roundTrips: number
  readonly scripts: number
}

/**
 * The shared tier: reference counting, last-holder execution and locks, over Redis or in process.
 * `RedisShard` and `MemoryShard` implement it with the same observable behaviour.
 */
export interface Shard {
  /** This worker's id; holder tokens start with it. */
  readonly workerId: string
  /**
   * Starts a session of the update's resource (or of a resource named with its type).
   * @throws {@link ArgumentError} for an update type the shard's codec does not know.
   */
  acquire(target: Update | ResourceRef): Promise<Hold>
  /** Starts sessions of many resources, one round trip per node. */
  acquireMany(targets: ReadonlyArray<Update | ResourceRef>): Promise<Hold[]>
  /** Folds a partial aggregate while keeping the hold (phonon's `cache`). */
  fold(hold: Hold, delta: Update): Promise<FoldResult>
  /** Folds many, one round trip per node. */
  foldMany(items: ReadonlyArray<readonly [Hold, Update]>): Promise<FoldResult[]>
  /** Ends a session in one atomic step: remove the hold, fold the delta, claim if last. */
  release(hold: Hold, delta?: Update): Promise<ReleaseResult>
  /** Ends many sessions, one round trip per node. */
  releaseMany(items: ReadonlyArray<readonly [Hold, Update | undefined]>): Promise<ReleaseResult[]>
  /**
   * Deletes a claimed execution after the sink wrote it. Returns the next claim when state
   * accumulated meanwhile and no holder is left: execute and complete it too.
   */
  completeExecution(claim: Claim): Promise<Claim | undefined>
  /** Completes many claims, one round trip per node; the next claim of each, if any. */
  completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined>>
  /** How many sessions hold the resource. */
  count(resourceId: string): Promise<number>
  /** How many times the resource's current session was modified. */
  timesModified(resourceId: string): Promise<number>
  /** Asks every holder of the resource to end its session (seen by `fold`). */
  forceExpiry(resourceId: string): Promise<void>
  /** Takes the resource's lock. @throws {@link AlreadyLocked} when it cannot be had in time. */
  lock(resourceId: string, options?: LockOptions): Promise<LockHandle>
  /** Round trips and scripts so far. */
  stats(): ShardStats
  /** Stops the heartbeat, releases this worker's locks and its heartbeat, closes connections. */
  close(): Promise<void>
}

/**
 * How a claim is executed unless told otherwise: `claim.update.execute(claim)`, so a sink gets the
 * claim's `resourceId` and `epoch` to dedupe on.
 */
export function executeClaim(claim: Claim): void | Promise<void> {
  return claim.update.execute(claim)
}
