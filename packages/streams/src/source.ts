import { ArgumentError, type Codec, type Update } from '@phonon/core'
import {
  type Aggregator,
  type AggregatorOptions,
  type BatchOutcome,
  batchFailures,
  createAggregator,
} from '@phonon/lru-update'
import {
  type Claim,
  type FoldResult,
  type Hold,
  type LockOptions,
  type ReleaseItem,
  type ReleaseOptions,
  type ReleaseResult,
  ResourceError,
  type ResourceRef,
  type Shard,
  type ShardStats,
} from '@phonon/redis-shard'
import type { Coordinator } from './Backend.js'
import { LateReplay, StreamError } from './errors.js'
import type { StreamRecord } from './Iterator.js'
import type { RoundProcessor } from './worker.js'

/** Options of {@link phononSource}. */
export interface PhononSourceOptions<T>
  extends Omit<AggregatorOptions, 'shard' | 'execute' | 'executeBatch' | 'closeShard'> {
  /**
   * The shared tier (a `RedisShard` from `connect`, or a `MemoryShard`), made with
   * `rememberExecuted: true` (a log entry applied again after its claims were completed must not
   * count again); closed with the source.
   */
  readonly shard: Shard
  /** The codec of the shard (the write-ahead log encodes deltas with it). */
  readonly codec: Codec
  /** Turns a record into its updates (none: skipped). Throwing counts the record as bad. */
  readonly toUpdates: (record: StreamRecord<T>) => Update | readonly Update[] | undefined
  /**
   * Writes claims to the sink, which dedupes by `(resourceId, epoch)`. Resolves when all were
   * written, or with a `BatchOutcome` listing the claims that failed alone (a row the database
   * refused): the others are completed, those stay claimed in the shard and are executed again
   * at each tick — the log goes on meanwhile. A rejection fails the whole log entry (applied
   * again later).
   */
  readonly executeBatch: (
    claims: readonly Claim[],
    // biome-ignore lint/suspicious/noConfusingVoidType: an async callback returning nothing is Promise<void>
  ) => Promise<void | BatchOutcome>
  /** Told of each claim the sink refused alone (it is executed again at the next tick). */
  readonly onExecuteError?: (claim: Claim, error: unknown) => void
  /** Told of each record the handler refused (it is skipped, not retried). */
  readonly onBadRecord?: (record: StreamRecord<T>, error: unknown) => void
  /**
   * A log entry left this long by a worker is applied by whoever sees it (ms). Default 15,000.
   * Must be below the shard's `retryWindowMs`, by a wide margin (see the README, "Exactly once").
   */
  readonly orphanMs?: number
  /**
   * A log entry left in the log longer than the shard's `retryWindowMs` (by the coordinator's
   * clock) may count twice when replayed: the shard has forgotten what would tell its operations
   * applied. `'refuse'` (default): it is not applied — a {@link LateReplay} error (the orphan
   * sweep stops there and `onEvent` is told; `applyAll` rejects) and it stays in the log;
   * `'apply'`: applied anyway. Needs a coordinator with `walEntryAge` (Redis and memory have it).
   */
  readonly lateReplays?: 'refuse' | 'apply'
}

/** Counters of a {@link phononSource}, for metrics (`source.stats()`). */
export interface PhononSourceStats {
  /**
   * Folds of applied log entries that the shard refused `notHeld` (their hold released at an
   * earlier step) and that the source took as applied. A replayed entry's folds answer as
   * applied when its release came after them, so a correct run leaves this at 0; a non-zero
   * value says a hold was released before folds the log still had (their deltas are not in the
   * shard): look for a bug, or a hold released behind the source's back.
   */
  readonly releasedHoldFolds: number
  /** Claims the sink refused alone, waiting to be executed again at the next tick. */
  readonly refusedClaims: number
  /** The shard's own counters (its `shardStateLost` counts holds it no longer knew). */
  readonly shard: ShardStats
}

/** A fold or release the shard has not seen yet, as the log stores it (delta encoded). */
type Logged = readonly ['fold' | 'release', Hold, unknown, ReleaseOptions?]
type Held = readonly ['fold' | 'release', Hold, Update | undefined, (ReleaseOptions | undefined)?]

/** How many times a round's prepare() sends folds that went back into their entries again. */
const UNSENT_FOLD_RETRIES = 3

/**
 * A shard whose folds and releases are held back: the aggregator sees them succeed (so its
 * messages are acknowledged), and they reach Redis only once the round they belong to has
 * committed with its checkpoints. Acquires go through at once (a hold carries no record). While
 * discarding, folds are dropped and releases go through without their delta, at the step the
 * shard has (before the hold's first dropped fold: a release never overtakes a fold).
 */
class DeferredShard implements Shard {
  held: Held[] = []
  discarding = false
  /** Hold token → its step before its first dropped fold. */
  readonly #dropped = new Map<string, number>()

  constructor(
    readonly inner: Shard,
    /** Sends releases now (discarding): after what was committed, claims executed. */
    readonly releaseNow: (items: ReadonlyArray<ReleaseItem>) => Promise<void>,
  ) {}

  get workerId() {
    return this.inner.workerId
  }
  get incarnation() {
    return this.inner.incarnation
  }
  get retryWindowMs() {
    return this.inner.retryWindowMs
  }
  get rememberExecuted() {
    return this.inner.rememberExecuted
  }
  newHold(target: Update | ResourceRef) {
    return this.inner.newHold(target)
  }
  acquire(target: Update | ResourceRef | Hold) {
    return this.inner.acquire(target)
  }
  acquireMany(targets: ReadonlyArray<Update | ResourceRef | Hold>) {
    return this.inner.acquireMany(targets)
  }
  async fold(hold: Hold, delta: Update): Promise<FoldResult> {
    const [result] = await this.foldMany([[hold, delta]])
    return result as FoldResult
  }
  async foldMany(items: ReadonlyArray<readonly [Hold, Update]>) {
    return items.map(([hold, delta]): FoldResult => {
      if (this.discarding) this.#drop(hold)
      else this.held.push(['fold', hold, delta])
      return {
        hold: { ...hold, step: hold.step + 1 },
        timesModified: 1,
        forcedExpiry: false,
        lost: false,
      }
    })
  }
  async release(hold: Hold, delta?: Update, options?: ReleaseOptions) {
    const [result] = await this.releaseMany([options ? [hold, delta, options] : [hold, delta]])
    return result as ReleaseResult
  }
  async releaseMany(items: ReadonlyArray<ReleaseItem>): Promise<ReleaseResult[]> {
    if (this.discarding) {
      await this.releaseNow(items.map(([hold, , options]) => this.#bare(hold, options)))
    } else {
      for (const [hold, delta, options] of items) this.held.push(['release', hold, delta, options])
    }
    return items.map(() => ({ last: false, reason: 'held' }))
  }
  /**
   * Starts discarding: drops the folds of the round (and of its refused entry) and returns their
   * releases, without their deltas (the records will be read again).
   */
  discardRound(refused: readonly Held[]): ReleaseItem[] {
    const held = [...refused, ...this.held]
    this.held = []
    this.discarding = true
    for (const [op, hold] of held) if (op === 'fold') this.#drop(hold)
    return held.flatMap(([op, hold, , options]) =>
      op === 'release' ? [this.#bare(hold, options)] : [],
    )
  }
  #drop(hold: Hold): void {
    if (!this.#dropped.has(hold.token)) this.#dropped.set(hold.token, hold.step)
  }
  /** A release without its delta, at the step the shard has. */
  #bare(hold: Hold, options: ReleaseOptions | undefined): ReleaseItem {
    const at = { ...hold, step: this.#dropped.get(hold.token) ?? hold.step }
    return options ? [at, undefined, options] : [at, undefined]
  }
  completeExecution(claim: Claim) {
    return this.inner.completeExecution(claim)
  }
  completeMany(claims: readonly Claim[]) {
    return this.inner.completeMany(claims)
  }
  count(resourceId: string) {
    return this.inner.count(resourceId)
  }
  timesModified(resourceId: string) {
    return this.inner.timesModified(resourceId)
  }
  forceExpiry(resourceId: string) {
    return this.inner.forceExpiry(resourceId)
  }
  lock(resourceId: string, options?: LockOptions) {
    return this.inner.lock(resourceId, options)
  }
  stats() {
    return this.inner.stats()
  }
  async close() {}
}

/** A fold refused because its hold's session was released already. */
const isReleasedHold = (result: unknown) =>
  result instanceof ResourceError && result.code === 'notHeld'

const isClaim = (claim: Claim | undefined): claim is Claim => claim !== undefined

/** A per-item error of a `*Many` call, thrown (the log entry stays, to be applied again). */
function check<T>(results: ReadonlyArray<T | ResourceError>): T[] {
  for (const result of results) if (result instanceof ResourceError) throw result
  return results as T[]
}

/**
 * The phonon source: records feed `withLocalAggregation`, and their contributions reach the
 * sink exactly once (see the README, "Exactly once"). Give it to a {@link Worker} as its
 * processor.
 * @throws {@link ArgumentError} when the shard was made without `rememberExecuted: true` (a log
 * entry replayed after its claims were completed would count them again), or `orphanMs` is not
 * below the shard's `retryWindowMs` (when the shard tells it).
 */
export function phononSource<T>(options: PhononSourceOptions<T>): RoundProcessor<T> & {
  /** The current aggregator (replaced after a refused round). */
  aggregator(): Aggregator
  /** Applies every log entry left by anyone; for a final drain. */
  applyAll(coordinator: Coordinator): Promise<void>
  /** Counters since the source was made (see {@link PhononSourceStats}). */
  stats(): PhononSourceStats
} {
  const {
    shard,
    codec,
    toUpdates,
    executeBatch,
    onBadRecord,
    onExecuteError,
    orphanMs = 15_000,
    lateReplays = 'refuse',
    ...rest
  } = options
  if (lateReplays !== 'refuse' && lateReplays !== 'apply') {
    throw new ArgumentError(`lateReplays must be 'refuse' or 'apply', got ${String(lateReplays)}`)
  }
  if (shard.rememberExecuted !== true) {
    throw new ArgumentError(
      'phononSource needs a shard made with rememberExecuted: true (connect / MemoryShard option): ' +
        'without it a log entry applied again after its claims were completed counts them twice',
    )
  }
  if (shard.retryWindowMs !== undefined && !(orphanMs < shard.retryWindowMs)) {
    throw new ArgumentError(
      `orphanMs (${orphanMs}) must be below the shard's retryWindowMs (${shard.retryWindowMs}), by a wide margin`,
    )
  }
  let applying = Promise.resolve()
  /** Folds refused `notHeld` and taken as applied (see {@link PhononSourceStats}). */
  let releasedHoldFolds = 0

  /** Claims the sink refused alone: still claimed in the shard, executed again at each tick. */
  const refused: Claim[] = []
  /**
   * Executes claims and what completing them hands back, until none is left; a claim the sink
   * refuses alone is kept for the next tick.
   */
  const executeAll = async (claims: Claim[]) => {
    while (claims.length > 0) {
      const failures = batchFailures(await executeBatch(claims), claims.length)
      if (failures instanceof Error) throw failures
      for (const [i, error] of failures) {
        refused.push(claims[i] as Claim)
        onExecuteError?.(claims[i] as Claim, error)
      }
      const failed = new Set(failures.map(([i]) => i))
      const done = claims.filter((_, i) => !failed.has(i))
      claims = done.length === 0 ? [] : check(await shard.completeMany(done)).filter(isClaim)
    }
  }
  /** The claims the sink refused so far, again (back in the list if the call fails). */
  const executeRefused = async () => {
    const again = refused.splice(0)
    try {
      await executeAll(again)
    } catch (error) {
      for (const claim of again) if (!refused.includes(claim)) refused.push(claim)
      throw error
    }
  }
  /** Releases (none: no call) and executes the claims they won. */
  const releaseAll = async (items: ReadonlyArray<ReleaseItem>) => {
    if (items.length === 0) return
    const results = check(await shard.releaseMany(items))
    await executeAll(results.flatMap((r) => (r.last ? [r.claim] : [])))
  }
  /**
   * Applies held-back operations in their order: the folds (each idempotent by its hold's step),
   * then the releases (idempotent by hold; a hold's folds come before its release).
   */
  const applyHeld = async (held: readonly Held[]) => {
    const folds = held.flatMap(([op, hold, delta]) =>
      op === 'fold' ? [[hold, delta as Update] as const] : [],
    )
    // A replayed fold whose session was released since is refused `notHeld`: the shard accepts a
    // release only after every fold before it, so that fold was applied (invariant 11). Such
    // refusals are counted (stats().releasedHoldFolds): a correct replay answers as applied, so a
    // refusal means a hold was released before folds the log still had. A fold of a hold
    // recovery evicted may win a claim (it left its resource idle).
    if (folds.length > 0) {
      const all = await shard.foldMany(folds)
      const results = check(all.filter((r) => !isReleasedHold(r)))
      releasedHoldFolds += all.length - results.length
      await executeAll(results.flatMap((r) => (r.claim ? [r.claim] : [])))
    }
    await releaseAll(
      held.flatMap(([op, hold, delta, options]) =>
        op === 'release' ? [(options ? [hold, delta, options] : [hold, delta]) as ReleaseItem] : [],
      ),
    )
  }
  const decode = (entry: string): Held[] =>
    (JSON.parse(entry) as Logged[]).map(([op, hold, delta, options]) => [
      op,
      hold,
      delta === null ? undefined : codec.decode(delta),
      options,
    ])
  /**
   * Throws {@link LateReplay} when the entry `id`, read from the log (not this worker's own just
   * committed), is older than the shard's `retryWindowMs` (unless `lateReplays: 'apply'`).
   */
  const refuseLate = async (coordinator: Coordinator, id: string) => {
    const window = shard.retryWindowMs
    if (lateReplays === 'apply' || window === undefined || !Number.isFinite(window)) return
    const age = await coordinator.walEntryAge?.(id)
    if (age !== undefined && age > window) throw new LateReplay(id, age, window)
  }
  /** Applies a committed log entry, then removes it; in commit order, one at a time. */
  const applyLogged = (
    coordinator: Coordinator,
    id: string,
    entry?: string,
    held?: readonly Held[],
  ) => {
    const run = applying.then(async () => {
      if (held !== undefined) await applyHeld(held)
      else {
        if (entry === undefined) await refuseLate(coordinator, id)
        const text = entry ?? (await coordinator.walEntry(id))
        if (text !== undefined) await applyHeld(decode(text))
      }
      await coordinator.removeWal(id)
    })
    applying = run.catch(() => undefined)
    return run
  }
  /**
   * Releases at once, after everything committed before was applied; retried while the shard
   * cannot be reached (a hold left behind by a live worker would pin its resource).
   */
  const releaseNow = async (items: ReadonlyArray<ReleaseItem>) => {
    await applying
    for (let attempt = 1; ; attempt++) {
      try {
        return await releaseAll(items)
      } catch (error) {
        if (attempt >= 30 || error instanceof ArgumentError) throw error
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 50 * 2 ** attempt)))
      }
    }
  }

  let deferred = new DeferredShard(shard, releaseNow)
  const make = () => createAggregator({ ...rest, shard: deferred, closeShard: false, executeBatch })
  let aggregator = make()
  /** What stops the round from committing: an update the aggregator could not take for good. */
  let failed: unknown
  /** The last entry prepared and its operations, applied from memory once committed. */
  let prepared: { entry: string; held: readonly Held[] } | undefined

  /** Offers one update of `record`; a refusal of the update skips the record (bad input). */
  const offer = (record: StreamRecord<T>, update: Update): void | Promise<void> => {
    try {
      return aggregator.offer(update)
    } catch (error) {
      if (error instanceof ArgumentError) onBadRecord?.(record, error)
      else failed ??= error
    }
  }

  return {
    aggregator: () => aggregator,
    stats: () => ({ releasedHoldFolds, refusedClaims: refused.length, shard: shard.stats() }),
    async process(records) {
      // Straight into the aggregator, without a message and acknowledgement per record: the
      // round is the unit of durability (its flush in prepare() is what withLocalAggregation's
      // acks would wait for), so a record costs its updates' merges and nothing else.
      for (let i = 0; i < records.length; i++) {
        const record = records[i] as StreamRecord<T>
        let updates: Update | readonly Update[] | undefined
        try {
          updates = toUpdates(record)
        } catch (error) {
          onBadRecord?.(record, error)
          continue
        }
        if (updates === undefined) continue
        if (Array.isArray(updates)) {
          for (const update of updates as readonly Update[]) {
            const wait = offer(record, update)
            if (wait !== undefined) await wait
          }
        } else {
          const wait = offer(record, updates as Update)
          if (wait !== undefined) await wait
        }
      }
    },
    async prepare() {
      // Every dirty entry folded (into the held-back operations) and nothing left in flight.
      // A fold that could not be sent (its session's acquire failed: a Redis node failing over)
      // goes back into its entry, where flush() leaves it: it is tried again, and if it still
      // cannot be sent the round is refused — committed, its checkpoints would pass records
      // whose deltas are only in this process, lost with the next refused round or a crash.
      await aggregator.flush()
      for (let again = 1; aggregator.unflushed() > 0; again++) {
        if (again > UNSENT_FOLD_RETRIES) {
          throw new StreamError('a fold of the round could not be sent (its hold was not acquired)')
        }
        await aggregator.flush()
      }
      const failure = failed ?? aggregator.failures()[0]?.error
      if (failure !== undefined) {
        throw new StreamError('a record of the round could not be aggregated', { cause: failure })
      }
      const held = deferred.held
      deferred.held = []
      if (held.length === 0) return undefined
      const entry = JSON.stringify(
        held.map(([op, hold, delta, options]) => [
          op,
          hold,
          delta === undefined ? null : codec.encode(delta),
          ...(options ? [options] : []),
        ]),
      )
      prepared = { entry, held }
      return entry
    },
    async committed(id, entry, coordinator) {
      // Applied in commit order while the next round is read; the log entry stays until done
      // (if this fails, the orphan sweep of any worker applies it later).
      if (entry === undefined) return
      const held = prepared?.entry === entry ? prepared.held : undefined
      prepared = undefined
      applyLogged(coordinator, id, entry, held).catch(() => undefined)
    },
    async discard() {
      // The round's folds are dropped and its releases sent without their deltas (the records
      // will be read again), those of its entry too when its commit was refused (the sessions
      // it ended are no longer in the aggregator); then a fresh aggregator, whose old one
      // releases the same way.
      await releaseNow(deferred.discardRound(prepared?.held ?? []))
      await aggregator.close()
      deferred = new DeferredShard(shard, releaseNow)
      aggregator = make()
      failed = undefined
      prepared = undefined
    },
    async tick(coordinator) {
      try {
        // Entries left by a dead worker (or one far behind), oldest first; stop at a failure,
        // as a hold's later folds must not go before its earlier ones.
        for (const id of await coordinator.walEntries(orphanMs)) await applyLogged(coordinator, id)
      } finally {
        if (refused.length > 0) await executeRefused()
      }
    },
    async applyAll(coordinator) {
      await applying
      if (refused.length > 0) await executeRefused()
      for (const id of await coordinator.walEntries(0)) await applyLogged(coordinator, id)
    },
    async close() {
      // After the last commit every entry is clean: closing only releases (without deltas).
      deferred.discarding = true
      await aggregator.close()
      await applying
      await shard.close()
    },
  }
}
