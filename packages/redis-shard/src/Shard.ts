import type { Update } from '@phonon/core'
import type { ResourceError } from './errors.js'

/** A resource named without an update: its id and its codec type name. */
export interface ResourceRef {
  readonly resourceId: string
  readonly typeName: string
}

/**
 * A session's hold on a resource: proof of `acquire`, needed to `fold` and `release`. Minted by
 * the caller ({@link Shard.newHold}) before the first attempt, so every operation on it can be
 * retried after a lost reply and counts once.
 */
export interface Hold {
  readonly resourceId: string
  /** The codec type name of the resource's updates. */
  readonly typeName: string
  /**
   * Unique per session: `<incarnation>:<sequence>`, the sequence increasing per incarnation. Two
   * sessions of one worker are two holders.
   */
  readonly token: string
  /** Folds applied under this hold so far: a fold carries `step + 1`, so its retry is a no-op. */
  readonly step: number
}

/** An execution this worker claimed: it must execute `update` and then complete the claim. */
export interface Claim {
  readonly resourceId: string
  readonly typeName: string
  /**
   * Strictly increasing per resource, never reused, seeded from the server clock (µs), so it
   * keeps increasing across a Redis restart that lost everything: sinks dedupe on
   * `(resourceId, epoch)`.
   */
  readonly epoch: number
  /** The global aggregate to execute. */
  readonly update: Update
}

/**
 * The result of ending a session. `last: true` carries the claim to execute; otherwise `reason`
 * says why not: other holders remain (`held`), an earlier execution is pending and whoever
 * completes it claims this state (`pending`), nothing was left to execute (`empty`), or this
 * session had been released already (`released`: a retried release, nothing folded).
 *
 * `lost: true` when the shard no longer knew the hold (Redis lost its data, or recovery removed
 * it while this worker was presumed dead): the delta was folded anyway, as a late release, and
 * the shard's `shardStateLost` statistic counts it.
 */
export type ReleaseResult =
  | { readonly last: true; readonly claim: Claim; readonly lost?: boolean }
  | {
      readonly last: false
      readonly reason: 'held' | 'pending' | 'empty' | 'released'
      readonly lost?: boolean
    }

/** The result of folding while keeping the hold. */
export interface FoldResult {
  /** The hold to use next (its `step` moved on); retrying this fold takes the old one. */
  readonly hold: Hold
  /** Times the resource was modified in its current pending state. */
  readonly timesModified: number
  /** Whether `forceExpiry` was called: the holder should end its session (release). */
  readonly forcedExpiry: boolean
  /**
   * The shard no longer knew the hold: the delta was folded; counted in `shardStateLost`. When
   * Redis lost it, the hold was re-established; when recovery evicted it (its incarnation was
   * found dead: the fold replays its log, or comes from a zombie), it was not, and its release
   * later is a late release.
   */
  readonly lost: boolean
  /**
   * A fold of an evicted hold that left its resource idle (no holder, nothing claimed) claimed
   * it: the caller executes and completes it, as a release's claim.
   */
  readonly claim?: Claim
}

/** Options of one release. */
export interface ReleaseOptions {
  /**
   * Claim an execution even when nothing was folded in the whole session, when this release
   * leaves no holder (phonon's registry semantics for models declaring `onComplete`: every ended
   * session's aggregate is executed, an empty one included). Default false: `reason: 'empty'`.
   */
  readonly claimEmpty?: boolean
}

/** One item of {@link Shard.releaseMany}: a hold, its final delta (if any) and options. */
export type ReleaseItem =
  | readonly [hold: Hold, delta: Update | undefined]
  | readonly [hold: Hold, delta: Update | undefined, options: ReleaseOptions]

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
  /**
   * Folds and releases whose hold the shard no longer knew (Redis lost its data, or recovery
   * removed the hold while this worker was presumed dead). Their deltas were folded anyway; a
   * non-zero value says the shard's state was lost at least once.
   */
  readonly shardStateLost: number
}

/**
 * The shared tier: reference counting, last-holder execution and locks, over Redis or in process.
 * `RedisShard` and `MemoryShard` implement it with the same observable behaviour.
 *
 * Every operation is idempotent under retries: the `*Many` forms return, per item, its result or
 * the {@link ResourceError} of that item alone (the resource is left exactly as it was, the other
 * items proceed); the single forms throw that error. A whole batch fails (rejects) only when the
 * shard cannot be reached: then retry it as it was, with the same holds and claims.
 */
export interface Shard {
  /** The configured worker name (many process starts may share it). */
  readonly workerId: string
  /** This process start of the worker: unique, the prefix of its hold tokens. */
  readonly incarnation: string
  /**
   * How long a release stays on record for its retries and replayed folds (ms; `Infinity` for a
   * `MemoryShard`, whose records live as long as its store). Optional for other implementations.
   */
  readonly retryWindowMs?: number | undefined
  /**
   * Whether completing a release's claim records that release (the `rememberExecuted` option),
   * so that replaying the release or its folds after the claim was completed counts nothing.
   * Optional for other implementations (absent: false).
   */
  readonly rememberExecuted?: boolean | undefined
  /**
   * Mints the hold of a new session (no I/O): acquire it, then retry with the same hold.
   * @throws {@link ArgumentError} for an unknown update type or a malformed resource id.
   */
  newHold(target: Update | ResourceRef): Hold
  /**
   * Starts a session: of a minted hold (idempotent), or of a new hold for the update's resource.
   * @throws {@link ArgumentError} for an unknown update type or a malformed resource id.
   */
  acquire(target: Update | ResourceRef | Hold): Promise<Hold>
  /** Starts sessions of many resources, one round trip per node. */
  acquireMany(
    targets: ReadonlyArray<Update | ResourceRef | Hold>,
  ): Promise<Array<Hold | ResourceError>>
  /**
   * Folds a partial aggregate while keeping the hold (phonon's `cache`); use the returned hold
   * next. Retrying with the same hold folds once, also after the hold's release (a replay: the
   * shard accepted the release only after every fold before it), while its release is on record
   * (`retryWindowMs`). A fold of a hold recovery evicted is applied once, without taking the
   * hold again, and may claim the resource: execute and complete `FoldResult.claim`.
   * @throws {@link ArgumentError} for a delta of another resource or type (nothing sent).
   * @throws {@link ResourceError} `outOfOrder` (a fold before it has not arrived), `notHeld` (a
   * fold past its released hold's final step), `overflow`, `wrongType`; nothing changed.
   */
  fold(hold: Hold, delta: Update): Promise<FoldResult>
  /** Folds many, one round trip per node. */
  foldMany(
    items: ReadonlyArray<readonly [Hold, Update]>,
  ): Promise<Array<FoldResult | ResourceError>>
  /**
   * Ends a session in one atomic step: remove the hold, fold the delta, claim if last (or if
   * `forceExpiry` marked the resource). Retrying folds once and hands back the same claim.
   * @throws {@link ArgumentError} for a delta of another resource or type (nothing sent).
   */
  release(hold: Hold, delta?: Update, options?: ReleaseOptions): Promise<ReleaseResult>
  /** Ends many sessions, one round trip per node. */
  releaseMany(items: ReadonlyArray<ReleaseItem>): Promise<Array<ReleaseResult | ResourceError>>
  /**
   * Deletes a claimed execution after the sink wrote it. Returns the next claim when state
   * accumulated meanwhile and no holder is left: execute and complete it too. Retrying after a
   * lost reply returns the same next claim.
   */
  completeExecution(claim: Claim): Promise<Claim | undefined>
  /** Completes many claims, one round trip per node; the next claim of each, if any. */
  completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined | ResourceError>>
  /** How many sessions hold the resource. */
  count(resourceId: string): Promise<number>
  /** How many times the resource's pending state was modified. */
  timesModified(resourceId: string): Promise<number>
  /**
   * phonon's force expiry: the next release of the resource, by any holder, executes its
   * pending state now, even with other holders left (their later deltas start a new pending
   * state); holders see `forcedExpiry` at their next fold.
   */
  forceExpiry(resourceId: string): Promise<void>
  /** Takes the resource's lock. @throws {@link AlreadyLocked} when it cannot be had in time. */
  lock(resourceId: string, options?: LockOptions): Promise<LockHandle>
  /** Round trips, scripts and lost shard state so far. */
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
