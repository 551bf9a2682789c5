import {
  ArgumentError,
  CacheError,
  type Fields,
  type Model,
  type ModelInput,
  type ModelUpdate,
  Update,
} from '@phonon/core'
import type { Failure } from './Failure.js'
import { Deadlines, type Timer } from './internal/Deadlines.js'
import { describe } from './internal/describe.js'
import { Entry, type Job, type JobKind } from './internal/Entry.js'
import { Flusher } from './internal/Flusher.js'
import { Recency } from './internal/Recency.js'
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
 * Every mutation of the LRU happens synchronously on the owner's event loop, in `offer` / `add`
 * or in a callback of the flusher: the event loop is the actor's mailbox, run to completion, so
 * merges, evictions and flush completions never interleave, and an offer costs a lookup and a
 * merge.
 *
 * @example
 * const aggregator = createAggregator({ shard, max: 10_000, idleMs: 30_000 })
 * for (const event of events) await aggregator.add(Widget, { id: event.widget, clicks: 1 })
 * await aggregator.close() // every session released, every execution done
 */
export class Aggregator implements AsyncDisposable {
  readonly #settings: Settings
  readonly #counters = new Counters()
  /** Live entries by collection, then id: no `collection.id` string is built per event. */
  readonly #indexes = new Map<string, Map<string, Entry>>()
  readonly #recency = new Recency()
  readonly #deadlines: Deadlines
  readonly #flusher: Flusher
  readonly #failures: Failure[] = []
  /** The sweeper's interval, running only while some session is timed. */
  #sweeper: NodeJS.Timeout | undefined
  #queued = 0
  #whenSpace: { promise: Promise<void>; resolve: () => void } | undefined
  #idleWaiters: Array<() => void> = []
  #closing: Promise<void> | undefined

  /** @throws {@link ArgumentError} for invalid options (see {@link AggregatorOptions}). */
  constructor(options: AggregatorOptions) {
    this.#settings = settings(options)
    this.#deadlines = new Deadlines(this.#settings.sweepMs)
    this.#flusher = new Flusher(this.#settings, this.#counters, {
      restore: (job) => this.#restore(job),
      forced: (entry) => this.#end(entry, 'forced'),
      jobDone: () => this.#jobDone(),
      failed: (failure) => this.#failed(failure),
      resolved: (failure) => {
        const at = this.#failures.indexOf(failure)
        if (at >= 0) this.#failures.splice(at, 1)
      },
    })
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
    this.#admit()
    if (!(update instanceof Update)) {
      throw new ArgumentError(`offer takes an Update, got ${describe(update)}`)
    }
    const index = this.#index(update.collection)
    const found = index.get(update.id)
    const entry = this.#live(found)
    if (entry === undefined) this.#insert(index, update.id, update, tracker, found !== undefined)
    else {
      const held = entry.update
      if (held === undefined) this.#dirty(entry, update)
      else if (held.constructor !== update.constructor) {
        throw new ArgumentError(
          `${entry.key}: cannot merge a ${update.constructor.name} into a ${held.constructor.name}`,
        )
      } else held.merge(update)
      this.#merged(entry, tracker)
      if (update.forceExpiry || entry.update?.forceExpiry) this.#end(entry, 'forced')
    }
    return this.#pressure()
  }

  /**
   * Adds raw field inputs of a model to its resource's entry: the same as
   * `offer(model.create(input))`, without creating an update when the resource is held — the
   * path without allocation. The id is checked when the session starts; a held session takes
   * the inputs straight into its partial aggregate (atomically: a rejected input changes nothing).
   * Counted as an offer.
   *
   * @param model - the model of the resource's updates.
   * @param input - the id and any subset of the fields' inputs; the object is not kept.
   * @returns as {@link Aggregator.offer}.
   * @throws {@link ArgumentError} for a bad id, an unknown field or an input a field rejects; when
   *   the held entry is not of this model; when the new entry's size exceeds `maxSize`.
   * @throws {@link CacheError} as {@link Aggregator.offer}.
   * @example
   * for (const event of events) {
   *   const wait = aggregator.add(Widget, { id: event.widget, clicks: 1 })
   *   if (wait !== undefined) await wait
   * }
   */
  add<F extends Fields>(model: Model<F>, input: ModelInput<F>): void | Promise<void> {
    this.#admit()
    const raw: unknown = input?.id
    // Only a string or a safe integer can be looked up as is; anything else is checked by create.
    const id = typeof raw === 'string' ? raw : Number.isSafeInteger(raw) ? String(raw) : undefined
    const index = this.#index(model.collection)
    const found = id === undefined ? undefined : index.get(id)
    const entry = this.#live(found)
    if (entry === undefined) {
      const update = model.create(input)
      this.#insert(index, update.id, update, undefined, found !== undefined)
      return this.#pressure()
    }
    const held = entry.update as ModelUpdate<F> | undefined
    if (held === undefined) this.#dirty(entry, model.create(input))
    else if (held.model !== model) {
      throw new ArgumentError(`${entry.key}: cannot add ${model.name} inputs to its held update`)
    } else model.ops.add(held.doc, input)
    this.#merged(entry, undefined)
    return this.#pressure()
  }

  /**
   * The partial aggregate held for a resource since its last fold (the live update: what its
   * next fold or release carries), marking the entry most recently used (phonon's `get`).
   * @returns undefined when no session of it is held, or nothing is pending in it.
   */
  get(resourceId: string): Update | undefined {
    const entry = this.#find(resourceId)
    if (entry !== undefined) this.#recency.touch(entry)
    return entry?.update
  }

  /** {@link Aggregator.get} without marking the entry used. */
  peek(resourceId: string): Update | undefined {
    return this.#find(resourceId)?.update
  }

  /** Whether a session of the resource is held. */
  has(resourceId: string): boolean {
    return this.#find(resourceId) !== undefined
  }

  /**
   * Ends the session of a resource now (phonon's `expire`).
   * @returns whether a session of it was held.
   */
  expire(resourceId: string): boolean {
    const entry = this.#find(resourceId)
    if (entry !== undefined) this.#end(entry, 'expire')
    return entry !== undefined
  }

  /** Ends every session (phonon's `expireAll`) and waits until all were released and executed. */
  expireAll(): Promise<void> {
    this.#endAll('expireAll')
    return this.drain()
  }

  /**
   * Ends the sessions that are over by now (idle, max age), folds entries dirty for longer than
   * `flushIntervalMs` (what the sweeper does on its own), ends the sessions whose held update has
   * `forceExpiry` set (a walk over every entry: the sweeper does not do it), and waits for the
   * flusher.
   */
  purge(): Promise<void> {
    this.#sweep()
    for (let entry = this.#recency.oldest; entry !== undefined; ) {
      const newer: Entry | undefined = entry.newer
      if (entry.update?.forceExpiry) this.#end(entry, 'forced')
      entry = newer
    }
    return this.drain()
  }

  /**
   * Folds every dirty entry into the shard, keeping the sessions and their places in the LRU,
   * and waits until that and everything queued before it is done.
   */
  flush(): Promise<void> {
    for (let entry = this.#recency.oldest; entry !== undefined; entry = entry.newer) {
      this.#fold(entry)
    }
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
   * lost: it is in the shard or the sink, or in `failures()`. Idempotent. O(entries).
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

  /**
   * Entries holding a partial aggregate not handed to the shard yet: merged since their last
   * fold, or put back by a fold that could not be sent (its session's acquire failed), which
   * `flush()` leaves there. O(entries).
   */
  unflushed(): number {
    let n = 0
    for (let entry = this.#recency.oldest; entry !== undefined; entry = entry.newer)
      if (entry.update !== undefined) n++
    return n
  }

  /** Entries held now. */
  get size(): number {
    return this.#recency.size
  }

  /** Counters, gauges and flush latency percentiles. */
  stats(): AggregatorStats {
    const c = this.#counters
    return {
      offers: c.merges + c.inserts + c.renewals,
      merges: c.merges,
      inserts: c.inserts,
      renewals: c.renewals,
      hitRatio: c.merges === 0 ? 0 : c.merges / (c.merges + c.inserts + c.renewals),
      ended: { ...c.ended },
      acquires: c.acquires,
      folds: c.folds,
      releases: c.releases,
      executions: c.executions,
      failures: c.failures,
      retries: c.retries,
      entries: this.#recency.size,
      queued: this.#queued,
      shardCalls: c.shardCalls,
      shard: this.#settings.shard.stats(),
      flushLatencyMs: c.latency(),
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The per-event path: plain synchronous code.

  #admit(): void {
    if (this.#closing !== undefined) throw new CacheError('offer after close()')
    if (this.#queued >= 2 * this.#settings.maxQueued) {
      throw new CacheError(
        `the flusher is ${this.#queued} jobs behind: await the Promise offer() returned before offering more`,
      )
    }
  }

  #index(collection: string): Map<string, Entry> {
    let index = this.#indexes.get(collection)
    if (index === undefined) {
      index = new Map()
      this.#indexes.set(collection, index)
    }
    return index
  }

  /**
   * The entry if its session may take more: a session past its max age or hard session ends
   * here (the offer then starts a new one, counted as a renewal).
   */
  #live(entry: Entry | undefined): Entry | undefined {
    const timer = entry?.timer
    if (timer === undefined || timer.endDeadline === Infinity) return entry
    if (this.#settings.now() < timer.endDeadline) return entry
    this.#end(entry as Entry, 'maxAge')
    return undefined
  }

  #pressure(): void | Promise<void> {
    return this.#queued >= this.#settings.maxQueued ? this.#space() : undefined
  }

  #insert(
    index: Map<string, Entry>,
    id: string,
    update: Update,
    tracker: Tracker | undefined,
    renewal: boolean,
  ): void {
    const { sizeOf, maxSize } = this.#settings
    const size = sizeOf === undefined ? 0 : sizeOf(update)
    if (maxSize !== undefined && size > maxSize) {
      throw new ArgumentError(`${update.resourceId}: its size ${size} exceeds maxSize ${maxSize}`)
    }
    const entry = new Entry(update.resourceId, id, index, update)
    entry.size = size
    entry.claimEmpty = (update as { model?: Model }).model?.onComplete !== undefined
    if (tracker !== undefined) entry.acks = [tracker]
    index.set(id, entry)
    this.#recency.add(entry)
    this.#startTimer(entry, update)
    if (renewal) this.#counters.renewals++
    else this.#counters.inserts++
    this.#enqueue('acquire', entry, update, undefined, undefined)
    this.#evict()
    if (update.forceExpiry) this.#end(entry, 'forced')
    else if (update.initCache && !entry.ended) this.#fold(entry) // phonon's init_cache
  }

  /** A clean entry takes a new partial aggregate: its flush interval starts now. */
  #dirty(entry: Entry, update: Update): void {
    entry.update = update
    const timer = entry.timer
    if (timer !== undefined && this.#settings.flushIntervalMs !== Infinity) {
      timer.flushDeadline = this.#settings.now() + this.#settings.flushIntervalMs
      this.#deadlines.advance(timer)
      this.#sweeping()
    }
  }

  /** After a merge: the message waits on the entry, the entry is used now and measured again. */
  #merged(entry: Entry, tracker: Tracker | undefined): void {
    if (tracker !== undefined) {
      if (entry.acks === undefined) entry.acks = [tracker]
      else entry.acks.push(tracker)
    }
    const timer = entry.timer
    if (timer !== undefined && timer.idleMs !== Infinity) {
      timer.idleDeadline = this.#settings.now() + timer.idleMs
    }
    this.#recency.touch(entry)
    this.#counters.merges++
    const { sizeOf, maxSize } = this.#settings
    if (sizeOf !== undefined && maxSize !== undefined) {
      const size = entry.update === undefined ? 0 : sizeOf(entry.update)
      this.#recency.totalSize += size - entry.size
      entry.size = size
      if (size > maxSize) this.#end(entry, 'capacity')
      this.#evict()
    }
  }

  /** Ends the least recently used sessions while the LRU is over `max` or `maxSize`. */
  #evict(): void {
    const { max, maxSize = Infinity } = this.#settings
    const recency = this.#recency
    while (recency.size > max || recency.totalSize > maxSize) {
      this.#end(recency.oldest as Entry, 'capacity')
    }
  }

  /**
   * Deadlines of a new session, on the aggregator's clock (the update's own session lengths
   * count from now, not from its creation): only a session with a finite limit gets a timer.
   */
  #startTimer(entry: Entry, update: Update): void {
    const { idleMs, maxAgeMs, flushIntervalMs, now } = this.#settings
    const idle = Math.min(idleMs, update.softSessionMs)
    const age = Math.min(maxAgeMs, update.hardSessionMs)
    if (idle === Infinity && age === Infinity && flushIntervalMs === Infinity) return
    const t = now()
    const timer: Timer = {
      entry,
      idleMs: idle,
      idleDeadline: t + idle,
      endDeadline: t + age,
      flushDeadline: t + flushIntervalMs,
      bucket: Number.NaN,
      prev: undefined,
      next: undefined,
    }
    entry.timer = timer
    this.#deadlines.file(timer)
    this.#sweeping()
  }

  /** Starts the sweeper when a timer is filed (it stops itself once none is). */
  #sweeping(): void {
    if (this.#sweeper !== undefined || this.#deadlines.size === 0) return
    if (this.#closing !== undefined) return
    this.#sweeper = setInterval(() => this.#sweep(), this.#settings.sweepMs).unref()
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions ending and folding

  /** Ends a held session: its entry leaves the LRU, and its release is queued. */
  #end(entry: Entry, cause: EndCause): void {
    if (entry.ended) return
    entry.ended = true
    entry.index.delete(entry.id)
    this.#recency.remove(entry)
    if (entry.timer !== undefined) this.#deadlines.unfile(entry.timer)
    this.#counters.ended[cause]++
    this.#handOff('release', entry, cause)
  }

  #endAll(cause: EndCause): void {
    while (this.#recency.oldest !== undefined) this.#end(this.#recency.oldest, cause)
  }

  /** Folds a dirty entry's partial aggregate, keeping the session: the entry becomes clean. */
  #fold(entry: Entry): void {
    if (entry.update === undefined) return
    this.#handOff('fold', entry, undefined)
    if (entry.timer !== undefined) entry.timer.flushDeadline = Infinity
  }

  /** Queues a job carrying the entry's partial aggregate and its messages; the entry is clean. */
  #handOff(kind: 'fold' | 'release', entry: Entry, cause: EndCause | undefined): void {
    this.#enqueue(kind, entry, entry.update, entry.acks, cause)
    entry.update = undefined
    entry.acks = undefined
  }

  #enqueue(
    kind: JobKind,
    entry: Entry,
    update: Update | undefined,
    acks: Tracker[] | undefined,
    cause: EndCause | undefined,
  ): void {
    this.#queued++
    this.#flusher.enqueue({
      kind,
      entry,
      update,
      acks,
      cause,
      // Only folds and releases have a latency: an acquire reads no clock.
      queuedAt: kind === 'acquire' ? 0 : performance.now(),
      sentWith: undefined,
      finished: false,
    })
  }

  /**
   * Ends the sessions whose deadline passed and folds the entries dirty past `flushIntervalMs`:
   * only the timers due are visited. The interval stops once no session is timed.
   */
  #sweep(): void {
    const now = this.#settings.now()
    this.#deadlines.due(now, (timer) => {
      const entry = timer.entry
      if (now >= timer.endDeadline) this.#end(entry, 'maxAge')
      else if (now >= timer.idleDeadline) this.#end(entry, 'idle')
      else {
        if (now >= timer.flushDeadline) this.#fold(entry)
        this.#deadlines.file(timer)
      }
    })
    if (this.#deadlines.size === 0) this.#stopSweeper()
  }

  #stopSweeper(): void {
    clearInterval(this.#sweeper)
    this.#sweeper = undefined
  }

  #find(resourceId: string): Entry | undefined {
    const dot = typeof resourceId === 'string' ? resourceId.indexOf('.') : -1
    if (dot < 0) return undefined
    return this.#indexes.get(resourceId.slice(0, dot))?.get(resourceId.slice(dot + 1))
  }

  // ---------------------------------------------------------------------------------------------
  // The flusher's callbacks

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

  #failed(failure: Failure): void {
    this.#failures.push(failure)
    this.#settings.onFailed?.(failure)
  }

  /**
   * Puts a partial aggregate whose fold was not sent back into its entry, before what was merged
   * since (order kept for non-commutative fields), with its messages, to ride on the entry's next
   * fold or release.
   * @returns false when the session ended meanwhile (or the merge back failed): nothing was put.
   */
  #restore(job: Job): boolean {
    const { entry, update } = job
    if (entry.ended || update === undefined) return false
    const since = entry.update
    if (since !== undefined) {
      try {
        update.merge(since)
      } catch {
        return false
      }
      entry.update = update
    } else this.#dirty(entry, update)
    entry.acks = [...(job.acks ?? []), ...(entry.acks ?? [])]
    return true
  }

  async #shutdown(): Promise<void> {
    this.#stopSweeper()
    this.#endAll('close')
    await this.drain()
    await this.#flusher.close()
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
