import type { Codec, Update } from '@phonon/core'
import {
  type AckableMessage,
  type Aggregator,
  type AggregatorOptions,
  createAggregator,
  withLocalAggregation,
} from '@phonon/lru-update'
import type { Claim, Hold, ReleaseResult, Shard } from '@phonon/redis-shard'
import type { Coordinator } from './Backend.js'
import type { StreamRecord } from './Iterator.js'
import type { RoundProcessor } from './worker.js'

/** Options of {@link phononSource}. */
export interface PhononSourceOptions<T>
  extends Omit<AggregatorOptions, 'shard' | 'execute' | 'executeBatch' | 'closeShard'> {
  /** The shared tier (a `RedisShard` from `connect`, or a `MemoryShard`); closed with the source. */
  readonly shard: Shard
  /** The codec of the shard (the write-ahead log encodes deltas with it). */
  readonly codec: Codec
  /** Turns a record into its updates (none: skipped). Throwing counts the record as bad. */
  readonly toUpdates: (record: StreamRecord<T>) => Update | readonly Update[] | undefined
  /** Writes claims to the sink, which dedupes by `(resourceId, epoch)`; all or nothing. */
  readonly executeBatch: (claims: readonly Claim[]) => Promise<void>
  /** Told of each record the handler refused (it is skipped, not retried). */
  readonly onBadRecord?: (record: StreamRecord<T>, error: unknown) => void
  /** A log entry left this long by a worker is applied by whoever sees it (ms). Default 15,000. */
  readonly orphanMs?: number
}

/** A release the shard has not seen yet, as the log stores it. */
type Logged = [hold: Hold, delta: unknown]

/**
 * A shard whose releases carrying a delta are held back: the aggregator sees them succeed (so
 * its messages are acknowledged), and they reach Redis only once the round they belong to has
 * committed with its checkpoints. Releases without a delta go through at once.
 */
class DeferredShard implements Shard {
  held: Array<readonly [Hold, Update]> = []
  discarding = false

  constructor(readonly inner: Shard) {}

  get workerId() {
    return this.inner.workerId
  }
  acquire(target: Parameters<Shard['acquire']>[0]) {
    return this.inner.acquire(target)
  }
  acquireMany(targets: Parameters<Shard['acquireMany']>[0]) {
    return this.inner.acquireMany(targets)
  }
  fold(hold: Hold, delta: Update) {
    return this.inner.fold(hold, delta)
  }
  foldMany(items: Parameters<Shard['foldMany']>[0]) {
    return this.inner.foldMany(items)
  }
  async release(hold: Hold, delta?: Update) {
    const [result] = await this.releaseMany([[hold, delta]])
    return result as ReleaseResult
  }
  async releaseMany(items: ReadonlyArray<readonly [Hold, Update | undefined]>) {
    const results: ReleaseResult[] = []
    const now: Array<readonly [Hold, undefined]> = []
    const at: number[] = []
    items.forEach(([hold, delta], i) => {
      if (delta === undefined || this.discarding) {
        now.push([hold, undefined])
        at.push(i)
      } else {
        this.held.push([hold, delta])
        results[i] = { last: false, reason: 'held' }
      }
    })
    if (now.length > 0) {
      // (Never an empty call: RedisShard.releaseMany([]) fails.)
      const passed = await this.inner.releaseMany(now)
      passed.forEach((result, j) => {
        results[at[j] as number] = result
      })
    }
    return results
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
  lock(resourceId: string, options?: Parameters<Shard['lock']>[1]) {
    return this.inner.lock(resourceId, options)
  }
  stats() {
    return this.inner.stats()
  }
  async close() {}
}

/**
 * The phonon source: records feed `withLocalAggregation`, and their contributions reach the
 * sink exactly once (see the README, "Exactly once"). Give it to a {@link Worker} as its
 * processor.
 */
export function phononSource<T>(options: PhononSourceOptions<T>): RoundProcessor<T> & {
  /** The current aggregator (replaced after a refused round). */
  aggregator(): Aggregator
  /** Applies every log entry left by anyone; for a final drain. */
  applyAll(coordinator: Coordinator): Promise<void>
} {
  const { shard, codec, toUpdates, executeBatch, onBadRecord, orphanMs = 15_000, ...rest } = options
  let deferred = new DeferredShard(shard)
  const make = () => createAggregator({ ...rest, shard: deferred, closeShard: false, executeBatch })
  let aggregator = make()
  type Message = AckableMessage & { record: StreamRecord<T> }
  let handle = withLocalAggregation<Message>(aggregator, (m) => toUpdates(m.record))
  let unsettled = 0
  let applying = Promise.resolve()

  /** Executes claims and what completing them hands back, until none is left. */
  const executeAll = async (claims: Claim[]) => {
    while (claims.length > 0) {
      await executeBatch(claims)
      claims = (await shard.completeMany(claims)).filter((c): c is Claim => c !== undefined)
    }
  }
  /** Releases through the shard (none: no call) and executes the claims they won. */
  const releaseAll = async (items: ReadonlyArray<readonly [Hold, Update | undefined]>) => {
    if (items.length === 0) return
    const results = await shard.releaseMany(items)
    await executeAll(results.flatMap((r) => (r.last ? [r.claim] : [])))
  }
  /** Releases a log entry's holds with their deltas (idempotent by hold) and executes the claims. */
  const apply = async (entry: string) => {
    await releaseAll(
      (JSON.parse(entry) as Logged[]).map(([hold, delta]) => [hold, codec.decode(delta)] as const),
    )
  }
  const applyLogged = (coordinator: Coordinator, id: string) => async () => {
    const entry = await coordinator.walEntry(id)
    if (entry !== undefined) await apply(entry)
    await coordinator.removeWal(id)
  }

  return {
    aggregator: () => aggregator,
    async process(records) {
      for (const record of records) {
        unsettled++
        await handle({
          record,
          ack: () => {
            unsettled--
          },
          nack: (error) => {
            unsettled--
            onBadRecord?.(record, error)
          },
        })
      }
    },
    async prepare() {
      // Every record of the round folded (into the held-back releases) and acknowledged.
      while (unsettled > 0) {
        await aggregator.flush()
        await aggregator.drain()
        if (unsettled > 0) await new Promise((resolve) => setTimeout(resolve, 10))
      }
      const held = deferred.held
      deferred.held = []
      if (held.length === 0) return undefined
      return JSON.stringify(held.map(([hold, delta]) => [hold, codec.encode(delta)]))
    },
    async committed(id, entry, coordinator) {
      if (entry === undefined) return
      // Applied in commit order while the next round is read; the log entry stays until done
      // (if this fails, the orphan sweep of any worker applies it later).
      applying = applying
        .then(async () => {
          await apply(entry)
          await coordinator.removeWal(id)
        })
        .catch(() => undefined)
    },
    async discard() {
      // The round's deltas are dropped (the records will be read again); their holds released empty.
      const held = deferred.held
      deferred.held = []
      deferred.discarding = true
      await releaseAll(held.map(([hold]) => [hold, undefined] as const))
      await aggregator.close()
      deferred = new DeferredShard(shard)
      aggregator = make()
      handle = withLocalAggregation<Message>(aggregator, (m) => toUpdates(m.record))
      unsettled = 0
    },
    async tick(coordinator) {
      for (const id of await coordinator.walEntries(orphanMs)) {
        await applyLogged(coordinator, id)()
      }
    },
    async applyAll(coordinator) {
      await applying
      for (const id of await coordinator.walEntries(0)) await applyLogged(coordinator, id)()
    },
    async close() {
      await aggregator.close()
      await applying
      await shard.close()
    },
  }
}
