import { ArgumentError, CacheError, Update } from '@phonon/core'
import { Effect, Fiber, Layer, ManagedRuntime, Schedule } from 'effect'
import { LRUCache } from 'lru-cache'
import type { Failure } from './Failure.js'
import { describe } from './internal/describe.js'
import { Entry, type Job, type JobKind } from './internal/Entry.js'
import { Flusher } from './internal/Flusher.js'
import { type AggregatorStats, Counters, type EndCause } from './internal/Stats.js'
import type { Tracker } from './internal/Tracker.js'
import { type AggregatorOptions, type Settings, settings } from './options.js'

/**
 * The local tier of phonon: one owner of an LRU of pending updates. An offer for a held resource
 * is merged into its entry (no I/O); a new resource starts a session (its shard hold is acquired
 * in the background). A session ends when its entry leaves the LRU — capacity, idle time, max
 * age, the update's own session, `forceExpiry`, `expire`, `expireAll`, `close` — and is then
 * released to the shard by a batching flusher; the last holder executes the global aggregate.
 *
 * Every mutation of the LRU happens synchronously on the owner's event loop, in `offer` or in a
 * callback of the flusher: the event loop is the actor's mailbox, run to completion, so merges,
 * evictions and flush completions never interleave, and an offer costs a lookup and a merge.
 *
 * @example
 * const aggregator = createAggregator({ shard, max: 10_000, idleMs: 30_000 })
 * for (const event of events) await aggregator.offer(Widget.create(event))
 * await aggregator.close() // every session released, every execution done
 */
export class Aggregator implements AsyncDisposable {
  readonly #settings: Settings
  readonly #counters = new Counters()
  readonly #runtime = ManagedRuntime.make(Layer.empty)
  readonly #cache: LRUCache<string, Entry>
  readonly #flusher: Flusher
  readonly #sweeper: Fiber.RuntimeFiber<unknown, never>
  readonly #failures: Failure[] = []
  #queued = 0
  #whenSpace: { promise: Promise<void>; resolve: () => void } | undefined
  #idleWaiters: Array<() => void> = []
  #closing: Promise<void> | undefined

  /** @throws {@link ArgumentError} for invalid options (see {@link AggregatorOptions}). */
  constructor(options: AggregatorOptions) {
    const s = settings(options)
    this.#settings = s
    const { sizeOf } = s
    this.#cache = new LRUCache<string, Entry>({
      max: s.max,
      ...(s.maxSize !== undefined && sizeOf !== undefined
        ? {
            maxSize: s.maxSize,
            sizeCalculation: (entry) => (entry.update === undefined ? 1 : sizeOf(entry.update)),
          }
        : {}),
      // After, not in, `dispose`: the cache is consistent again when the session is handed on.
      // (Not `noDisposeOnSet`: lru-cache 11.5 then holds back `disposeAfter` of the entries a
      // `set` evicts. Setting an entry again to itself, to re-measure it, disposes nothing.)
      disposeAfter: (entry) => this.#ended(entry),
    })
    this.#flusher = new Flusher(s, this.#counters, this.#flusherOwner(), this.#runtime)
    this.#sweeper = this.#runtime.runFork(
      Effect.repeat(
        Effect.sync(() => this.#sweep()),
        Schedule.spaced(s.sweepMs),
      ),
    )
  }

  /**
   * Merges the update into its resource's entry, or starts a session for it. The key is
   * `update.resourceId`.
   *
   * @returns `undefined` when the flusher keeps up; a Promise when it is behind: await it before
   *   offering more, so memory stays bounded (`await` on the result works in both cases).
   * @throws {@link ArgumentError} when `update` is not an {@link Update}, is of another type
   *   than the held entry, or its merge rejects it (the entry is then unchanged); when its size
   *   exceeds `maxSize`.
   * @throws {@link CacheError} after `close()`, or when the caller kept offering without awaiting
   *   while the queue was over twice `maxQueued`. Nothing was changed then.
   */
  offer(update: Update): void | Promise<void> {
    return this.offerTracked(update, undefined)
  }

  /** {@link Aggregator.offer}, with a message waiting for the update to be durable. @internal */
  offerTracked(update: Update, tracker: Tracker | undefined): void | Promise<void> {
    if (this.#closing !== undefined) throw new CacheError('offer after close()')
    if (!(update instanceof Update)) {
      throw new ArgumentError(`offer takes an Update, got ${describe(update)}`)
    }
    if (this.#queued >= 2 * this.#settings.maxQueued) {
      throw new CacheError(
        `the flusher is ${this.#queued} jobs behind: await the Promise offer() returned before offering more`,
      )
    }
    const key = update.resourceId
    let entry = this.#cache.get(key)
    if (entry?.clock !== undefined && entry.clock.endDeadline !== Infinity) {
      // Past its hard session or max age, a session takes no more merges: a new one starts.
      if (this.#settings.now() >= entry.clock.endDeadline) {
        this.#end(entry, 'maxAge')
        entry = undefined
      }
    }
    if (entry === undefined) this.#insert(key, update, tracker)
    else this.#merge(entry, update, tracker)
    this.#counters.offers++
    return this.#queued >= this.#settings.maxQueued ? this.#space() : undefined
  }

  /**
   * Ends the session of a resource now (phonon's `expire`).
   * @returns whether a session of it was held.
   */
  expire(resourceId: string): boolean {
    const entry = this.#cache.peek(resourceId)
    if (entry !== undefined) this.#end(entry, 'expire')
    return entry !== undefined
  }

  /** Ends every session (phonon's `expireAll`) and waits until all were released and executed. */
  expireAll(): Promise<void> {
    this.#endAll('expireAll')
    return this.drain()
  }

  /**
   * Ends the sessions that are over by now (idle, max age, `forceExpiry`), folds entries dirty
   * for longer than `flushIntervalMs`, and waits for the flusher: what the sweeper does on its
   * own every interval.
   */
  purge(): Promise<void> {
    this.#sweep()
    return this.drain()
  }

  /**
   * Folds every dirty entry into the shard, keeping the sessions and their places in the LRU,
   * and waits until that and everything queued before it is done.
   */
  flush(): Promise<void> {
    for (const entry of this.#cache.values()) this.#fold(entry)
    return this.drain()
  }

  /** Resolves once nothing is queued or in flight (failures are in `failures()`). */
  drain(): Promise<void> {
    if (this.#queued === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Stops accepting offers, ends every session, waits for every release and execution, stops
   * the flusher and (unless `closeShard: false`) closes the shard. Nothing offered before is
   * lost: it is in the shard or the sink, or in `failures()`. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown()
    return this.#closing
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /**
   * Work that exhausted its retries, oldest first (phonon's `get_last_failed`); a failure leaves
   * the list once its `retry()` succeeded. Retrying after `close()` needs the shard open
   * (`closeShard: false`).
   */
  failures(): readonly Failure[] {
    return this.#failures
  }

  /** Entries held now. */
  get size(): number {
    return this.#cache.size
  }

  /** Counters, gauges and flush latency percentiles. */
  stats(): AggregatorStats {
    const c = this.#counters
    return {
      offers: c.offers,
      merges: c.merges,
      inserts: c.inserts,
      hitRatio: c.offers === 0 ? 0 : c.merges / c.offers,
      ended: { ...c.ended },
      acquires: c.acquires,
      folds: c.folds,
      releases: c.releases,
      executions: c.executions,
      failures: c.failures,
      retries: c.retries,
      entries: this.#cache.size,
      queued: this.#queued,
      shardCalls: c.shardCalls,
      shard: this.#settings.shard.stats(),
      flushLatencyMs: c.latency(),
    }
  }

  #insert(key: string, update: Update, tracker: Tracker | undefined): void {
    const { sizeOf, maxSize } = this.#settings
    const size = sizeOf?.(update) ?? 0
    if (size > (maxSize ?? Infinity)) {
      throw new ArgumentError(`${key}: its size ${size} exceeds maxSize ${maxSize}`)
    }
    const entry = new Entry(key, update)
    if (tracker !== undefined) entry.acks = [tracker]
    this.#startClocks(entry, update)
    this.#counters.inserts++
    this.#enqueue('acquire', entry, update, undefined)
    this.#cache.set(key, entry)
    if (update.initCache) this.#fold(entry) // phonon's init_cache: into the shard at once
  }

  /**
   * Merges into a held entry. The message is attached before the entry is measured again: an
   * entry grown past `maxSize` leaves the LRU right there, and its release carries the message.
   */
  #merge(entry: Entry, update: Update, tracker: Tracker | undefined): void {
    const held = entry.update
    if (held === undefined) {
      entry.update = update
      if (entry.clock !== undefined) entry.clock.dirtySince = this.#settings.now()
    } else {
      if (held.constructor !== update.constructor) {
        throw new ArgumentError(
          `${entry.key}: cannot merge a ${update.constructor.name} into a ${held.constructor.name}`,
        )
      }
      held.merge(update)
    }
    if (tracker !== undefined) {
      if (entry.acks === undefined) entry.acks = [tracker]
      else entry.acks.push(tracker)
    }
    const clock = entry.clock
    if (clock !== undefined && clock.idleMs !== Infinity) {
      clock.idleDeadline = this.#settings.now() + clock.idleMs
    }
    // lru-cache measures an entry when it is set: set it again to count what the merge added.
    if (this.#settings.sizeOf !== undefined) this.#cache.set(entry.key, entry)
    this.#counters.merges++
  }

  /** Deadlines of a new session; the clock is read only when some limit is finite. */
  #startClocks(entry: Entry, update: Update): void {
    const { idleMs, maxAgeMs, flushIntervalMs, now } = this.#settings
    const idle = Math.min(idleMs, update.softSessionMs)
    const finite = idle !== Infinity || maxAgeMs !== Infinity || flushIntervalMs !== Infinity
    if (!finite && update.hardDeadline === Infinity) return
    const t = finite ? now() : 0
    entry.clock = {
      idleMs: idle,
      idleDeadline: t + idle,
      endDeadline: Math.min(t + maxAgeMs, update.hardDeadline),
      dirtySince: t,
    }
  }

  /** Ends a held session: its entry leaves the LRU, and `#ended` hands it to the flusher. */
  #end(entry: Entry, cause: EndCause): void {
    if (entry.ended || this.#cache.peek(entry.key) !== entry) return
    entry.endCause = cause
    this.#cache.delete(entry.key)
  }

  #endAll(cause: EndCause): void {
    for (const entry of this.#cache.values()) entry.endCause = cause
    this.#cache.clear()
  }

  /** An entry left the LRU (lru-cache's `disposeAfter`): release its session. */
  #ended(entry: Entry): void {
    if (entry.ended) return
    entry.ended = true
    this.#counters.ended[entry.endCause ?? 'capacity']++
    this.#handOff('release', entry)
  }

  /** Folds a dirty entry's partial aggregate, keeping the session: the entry becomes clean. */
  #fold(entry: Entry): void {
    if (entry.update !== undefined) this.#handOff('fold', entry)
  }

  /** Queues a job carrying the entry's partial aggregate and its messages; the entry is clean. */
  #handOff(kind: 'fold' | 'release', entry: Entry): void {
    this.#enqueue(kind, entry, entry.update, entry.acks)
    entry.update = undefined
    entry.acks = undefined
  }

  #enqueue(kind: JobKind, entry: Entry, update: Update | undefined, acks: Tracker[] | undefined) {
    this.#queued++
    this.#flusher.enqueue({ kind, entry, update, acks, queuedAt: performance.now() })
  }

  /** Ends the sessions that are over and folds entries dirty past `flushIntervalMs`. */
  #sweep(): void {
    const now = this.#settings.now()
    const { flushIntervalMs } = this.#settings
    const ending: Array<[Entry, EndCause]> = []
    const dirty: Entry[] = []
    for (const entry of this.#cache.values()) {
      if (entry.update?.forceExpiry) ending.push([entry, 'forced'])
      else if (entry.clock === undefined) continue
      else if (now >= entry.clock.endDeadline) ending.push([entry, 'maxAge'])
      else if (now >= entry.clock.idleDeadline) ending.push([entry, 'idle'])
      else if (entry.update !== undefined && now - entry.clock.dirtySince >= flushIntervalMs) {
        dirty.push(entry)
      }
    }
    for (const [entry, cause] of ending) this.#end(entry, cause)
    for (const entry of dirty) this.#fold(entry)
  }

  #space(): Promise<void> {
    if (this.#whenSpace === undefined) {
      let resolve = () => {}
      const promise = new Promise<void>((r) => {
        resolve = r
      })
      this.#whenSpace = { promise, resolve }
    }
    return this.#whenSpace.promise
  }

  #jobDone(): void {
    this.#queued--
    if (this.#whenSpace !== undefined && this.#queued <= this.#settings.maxQueued >> 1) {
      this.#whenSpace.resolve()
      this.#whenSpace = undefined
    }
    if (this.#queued === 0) {
      const waiters = this.#idleWaiters
      this.#idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  #flusherOwner() {
    return {
      foldFailed: (job: Job) => this.#restore(job),
      jobDone: () => this.#jobDone(),
      failed: (failed: Failure) => {
        // A failure leaves the list once its retry succeeds.
        const failure: Failure = {
          ...failed,
          retry: async () => {
            await failed.retry()
            const at = this.#failures.indexOf(failure)
            if (at >= 0) this.#failures.splice(at, 1)
          },
        }
        this.#failures.push(failure)
        this.#settings.onFailed?.(failure)
      },
    }
  }

  /**
   * Puts a partial aggregate whose fold was not sent back into its entry, before what was merged since
   * (order kept for non-commutative fields), to be folded or released with the next job.
   * @returns false when the session ended meanwhile.
   */
  #restore(job: Job): boolean {
    const { entry, update } = job
    if (entry.ended || update === undefined) return false
    if (entry.update !== undefined) {
      try {
        update.merge(entry.update)
      } catch {
        return false
      }
    }
    entry.update = update
    entry.acks = [...(job.acks ?? []), ...(entry.acks ?? [])]
    return true
  }

  async #shutdown(): Promise<void> {
    await this.#runtime.runPromise(Fiber.interrupt(this.#sweeper))
    this.#endAll('close')
    await this.drain()
    await this.#flusher.close()
    // The runtime stays: it holds nothing but lets `failures()` be retried after close.
    if (this.#settings.closeShard) await this.#settings.shard.close()
  }
}

/**
 * Creates an {@link Aggregator}.
 * @throws {@link ArgumentError} for invalid options, naming the option.
 */
export function createAggregator(options: AggregatorOptions): Aggregator {
  return new Aggregator(options)
}
