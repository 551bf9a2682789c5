import { randomUUID } from 'node:crypto'
import { ArgumentError } from '@phonon/core'
import { expand } from './aggregation.js'
import type { Coordinator, ReadFrom, StoredRecord } from './Backend.js'
import { CheckpointConflict, CommitUnconfirmed, LeaseLost, StreamError } from './errors.js'
import { pinLatest, type StreamRecord, shardIndexes, storedLimit } from './Iterator.js'
import { type LeaseChanges, ShardLeases } from './Lease.js'
import type { Stream } from './Stream.js'

/**
 * What a worker does with the records of a round. The worker commits a round's checkpoints only
 * after `prepare` resolved; what `prepare` returns is stored with them in the same atomic,
 * lease-fenced step and handed to `committed`.
 */
export interface RoundProcessor<T> {
  /** Handles records (of the shards this worker owns, each shard in order). */
  process(records: readonly StreamRecord<T>[]): Promise<void>
  /** Makes the round's effects ready to commit; a log entry to store with the checkpoints. */
  prepare(): Promise<string | undefined>
  /** The round committed (with its log entry under `id` of `coordinator`). */
  committed(id: string, entry: string | undefined, coordinator: Coordinator): Promise<void>
  /** The round was refused (a lease was lost): forget what it did. */
  discard(): Promise<void>
  /** Anything to do in the background each lease tick (e.g. the log of dead workers). */
  tick?(coordinator: Coordinator): Promise<void>
  close(): Promise<void>
}

/** A shard's first read takes `batch / this` stored records, then as many as held `batch`. */
const FIRST_READ_DIVISOR = 100

/** The longest wait between two attempts of a commit whose reply was lost (ms). */
const COMMIT_BACKOFF_MS = 2_000

/** Options of {@link Worker}. */
export interface WorkerOptions<T> {
  readonly stream: Stream<T>
  /** The consumer group: leases and checkpoints are per (application, stream, shard). */
  readonly application: string
  /** This worker's name; each start is a new incarnation `<name>.<random>`. */
  readonly name: string
  readonly processor: RoundProcessor<T>
  /** Shards this group divides (a static subset); default all. */
  readonly shards?: readonly number[]
  /** Lease time to live (ms). Default 10,000. */
  readonly leaseMs?: number
  /** A round commits after this long (ms). Default 500. */
  readonly roundMs?: number
  /** …or after this many records. Default 20,000. */
  readonly roundRecords?: number
  /**
   * Records read per shard per call. Default 1,000. Reads take whole stored records (a round
   * holds whole aggregated records): as many as held about this many records last time.
   */
  readonly batch?: number
  /** Wait when every owned shard was empty (ms). Default 50. */
  readonly idleMs?: number
  /** Where a shard without a checkpoint starts. Default `'all'`. */
  readonly initialPosition?: 'all' | 'latest'
  /** Told of a refused round, a failed tick (the worker goes on). */
  readonly onEvent?: (event: WorkerEvent) => void
}

/** What a worker tells `onEvent`. */
export type WorkerEvent =
  | { readonly type: 'acquired' | 'released' | 'lost'; readonly shard: number }
  | { readonly type: 'error'; readonly error: unknown }

/**
 * Runs a processor over the shards this worker leases (triton's worker scaffold): reads them from
 * their checkpoints, commits in rounds, keeps and rebalances its leases, and on `stop()` commits
 * what it read, closes the processor and gives its leases up.
 */
export class Worker<T = unknown> {
  readonly incarnation: string
  readonly #o: Required<Omit<WorkerOptions<T>, 'shards' | 'onEvent'>> & WorkerOptions<T>
  readonly #leases: ShardLeases
  readonly #coordinator: Coordinator
  readonly #positions = new Map<number, ReadFrom>()
  /** Stored records to read next per shard (fewer than `batch` when they are aggregated). */
  readonly #limits = new Map<number, number>()
  /** Last sequence read per shard this round (the checkpoint a commit moves to). */
  readonly #read = new Map<number, string>()
  /** The lease token each shard is read under: a round commits under these, not the current ones. */
  readonly #tokens = new Map<number, number>()
  /** Each shard's stored checkpoint the round reads from (undefined: none): a commit's compare-and-set. */
  readonly #from = new Map<number, string | undefined>()
  /** Positions must be read again from the checkpoints before the next read (a refused round). */
  #stale = false
  #running = false
  #roundStart = Date.now()
  #roundCount = 0
  #ticking: Promise<void> | undefined
  readonly #changes: LeaseChanges[] = []
  #wake: (() => void) | undefined
  #processed = 0

  /** @throws {@link ArgumentError} for an invalid option. */
  constructor(options: WorkerOptions<T>) {
    if (!/^[\w.-]+$/.test(options.name)) {
      throw new ArgumentError(`name must be letters, digits, _ . -, got ${options.name}`)
    }
    this.#o = {
      leaseMs: 10_000,
      roundMs: 500,
      roundRecords: 20_000,
      batch: 1_000,
      idleMs: 50,
      initialPosition: 'all',
      ...options,
    }
    this.incarnation = `${options.name}.${randomUUID().slice(0, 8)}`
    const def = options.stream.definition
    this.#coordinator = options.stream.backend.coordinator(def, options.application)
    this.#leases = new ShardLeases(
      this.#coordinator,
      this.incarnation,
      shardIndexes(def, options.shards),
      this.#o.leaseMs,
    )
  }

  /** Records handled so far. */
  get processed(): number {
    return this.#processed
  }

  /** The shards owned now. */
  owned(): number[] {
    return [...this.#leases.owned().keys()].sort((a, b) => a - b)
  }

  /**
   * Runs until {@link Worker.stop}; resolves once the last round committed and leases were given up.
   * A commit whose reply is lost (the backend unreachable) is sent again, with a backoff of up to
   * 2 s, until it is known done or refused.
   * @throws {@link CommitUnconfirmed} (rejects) when stopped while a commit stayed unconfirmed
   *   for a lease time: the processor is then not closed and nothing is released (exit the
   *   process; the round is applied or read again by the next owner).
   */
  async run(): Promise<void> {
    this.#running = true
    // Leases are kept in the background, so a slow round does not let them expire.
    await this.#tick()
    const ticker = setInterval(() => {
      this.#ticking ??= this.#tick().finally(() => {
        this.#ticking = undefined
      })
    }, this.#o.leaseMs / 4)
    try {
      while (this.#running) {
        try {
          await this.#step()
        } catch (error) {
          if (error instanceof CommitUnconfirmed) throw error
          // Redis unreachable, a round that could not be made durable: go back to the
          // checkpoints and read again once it answers.
          this.#o.onEvent?.({ type: 'error', error })
          await this.#sleep(500)
          await this.#refused([]).catch((e: unknown) =>
            this.#o.onEvent?.({ type: 'error', error: e }),
          )
        }
      }
      await this.#commit()
    } finally {
      clearInterval(ticker)
      await this.#ticking
    }
    await this.#o.processor.close()
    await this.#leases.leave()
  }

  /** Applies lease changes, reads each owned shard once, commits when the round is due. */
  async #step(): Promise<void> {
    if (await this.#apply()) this.#startRound()
    if (this.#stale) await this.#reposition()
    const { shards, reads: reading } = this.#readOwned()
    const reads = await reading
    let fetched = 0
    for (const [i, stored] of reads.entries()) {
      const shard = (shards[i] as [number, ReadFrom])[0]
      const last = stored.at(-1)
      if (last === undefined || !this.#positions.has(shard)) continue
      this.#positions.set(shard, { after: last.sequence })
      this.#read.set(shard, last.sequence)
      const records: StreamRecord<T>[] = []
      expand(stored, shard, records)
      this.#limits.set(shard, storedLimit(this.#o.batch, stored.length, records.length))
      fetched += records.length
      await this.#o.processor.process(records)
    }
    this.#roundCount += fetched
    this.#processed += fetched
    if (
      this.#roundCount >= this.#o.roundRecords ||
      Date.now() - this.#roundStart >= this.#o.roundMs
    ) {
      await this.#commit()
      this.#startRound()
    }
    if (fetched === 0 && this.#running) await this.#sleep(this.#o.idleMs)
  }

  /** Reads every owned shard once from its position, all at once (one round trip). */
  #readOwned(): {
    shards: ReadonlyArray<[number, ReadFrom]>
    reads: Promise<StoredRecord[][]>
  } {
    const { stream } = this.#o
    const shards = [...this.#positions]
    const reads = Promise.all(
      shards.map(([shard, from]) =>
        stream.backend.read(
          stream.definition,
          shard,
          from,
          // A shard not read yet may hold aggregated records: a first read of `batch` of them
          // could be hundreds of times `batch` records, a step long enough to lose leases.
          this.#limits.get(shard) ?? Math.ceil(this.#o.batch / FIRST_READ_DIVISOR),
        ),
      ),
    )
    return { shards, reads }
  }

  #startRound(): void {
    this.#roundStart = Date.now()
    this.#roundCount = 0
  }

  /** Stops reading; `run()` then commits, closes the processor and gives the leases up. */
  stop(): void {
    this.#running = false
    this.#wake?.()
  }

  /** Renews, takes and sheds leases (in the background); the loop applies the changes. */
  async #tick(): Promise<void> {
    try {
      const changes = await this.#leases.tick()
      this.#changes.push(changes)
      await this.#o.processor.tick?.(this.#coordinator)
    } catch (error) {
      this.#o.onEvent?.({ type: 'error', error })
    }
  }

  /** Applies lease changes between rounds; whether a round was committed meanwhile. */
  async #apply(): Promise<boolean> {
    const changes = this.#changes.splice(0)
    const lost = changes.flatMap((c) => c.lost)
    if (lost.length > 0) await this.#refused(lost)
    const acquired = changes
      .flatMap((c) => c.acquired)
      .filter((grant) => this.#leases.owned().get(grant.shard) === grant.token)
    // Every grant is recorded first: should a checkpoint read below fail, #refused positions
    // them all (none is left owned and never read).
    for (const grant of acquired) this.#tokens.set(grant.shard, grant.token)
    for (const grant of acquired) {
      await this.#position(grant.shard)
      this.#o.onEvent?.({ type: 'acquired', shard: grant.shard })
    }
    const surplus = changes.at(-1)?.surplus ?? []
    if (surplus.length === 0) return false
    await this.#commit()
    await this.#leases.give(surplus)
    for (const shard of surplus) this.#forget(shard, 'released')
    return true
  }

  /** Commits the round: the processor's log entry and every owned shard's checkpoint, fenced. */
  async #commit(): Promise<void> {
    // Every shard read this round is checked, also one whose lease was lost meanwhile (its token
    // then fails the check and the whole round is refused).
    const shards = new Set([...this.#tokens.keys(), ...this.#read.keys()])
    if (shards.size === 0) return
    const entry = await this.#o.processor.prepare()
    const id = `${this.incarnation}.${Date.now()}.${randomUUID().slice(0, 4)}`
    const entries = [...shards].map((shard) => ({
      shard,
      token: this.#tokens.get(shard) ?? -1,
      from: this.#from.get(shard),
      sequence: this.#read.get(shard),
    }))
    // A commit is exclusive (compare-and-set on the checkpoints the round read from) and
    // idempotent (its id is remembered: sent again, it answers 'already-committed' and writes
    // nothing), so one whose reply was lost (Redis restarting) is sent again until it is known to
    // be done or refused: dropping the round then could drop a committed entry's deltas. Once
    // stopped, the worker tries for one more lease time, then gives up without releasing
    // anything (see CommitUnconfirmed).
    let stoppedAt: number | undefined
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#coordinator.commit(
          this.incarnation,
          this.#o.leaseMs,
          entries,
          entry === undefined ? { id } : { id, wal: entry },
        )
        break
      } catch (error) {
        if (error instanceof LeaseLost) {
          await this.#refused([error.shard])
          return
        }
        if (error instanceof CheckpointConflict) {
          // Another round committed from these checkpoints already: this one is dropped and the
          // shards are read again from what is stored.
          this.#o.onEvent?.({ type: 'error', error })
          await this.#refused([])
          return
        }
        if (!(error instanceof StreamError)) throw error
        if (!this.#running) {
          stoppedAt ??= Date.now()
          if (Date.now() - stoppedAt >= this.#o.leaseMs) {
            throw new CommitUnconfirmed(
              `the commit of ${this.incarnation}'s last round was not confirmed before it stopped`,
              { cause: error },
            )
          }
        }
        this.#o.onEvent?.({ type: 'error', error })
        await this.#sleep(Math.min(COMMIT_BACKOFF_MS, 50 * 2 ** Math.min(attempt, 6)))
      }
    }
    for (const { shard, sequence } of entries) {
      if (sequence !== undefined) this.#from.set(shard, sequence)
    }
    this.#read.clear()
    await this.#o.processor.committed(id, entry, this.#coordinator)
  }

  /**
   * A lease was lost: the round is refused as a whole, so every shard goes back to its
   * checkpoint, and the lost ones are dropped.
   */
  async #refused(lost: readonly number[]): Promise<void> {
    for (const shard of lost) {
      this.#leases.drop(shard)
      this.#forget(shard, 'lost')
    }
    // Until every position is back at its checkpoint nothing is read (a checkpoint read that
    // fails here is tried again before the next read, not skipped).
    this.#stale = true
    this.#read.clear()
    await this.#o.processor.discard()
    await this.#reposition()
  }

  /** Every owned shard's position and `from` back at its stored checkpoint. */
  async #reposition(): Promise<void> {
    for (const shard of this.#tokens.keys()) await this.#position(shard)
    this.#stale = false
  }

  /**
   * A shard's position and `from` at its stored checkpoint; without one, the initial position
   * for a shard not read yet, else from the oldest record.
   */
  async #position(shard: number): Promise<void> {
    const checkpoint = await this.#coordinator.checkpoint(shard)
    this.#from.set(shard, checkpoint)
    this.#positions.set(
      shard,
      checkpoint !== undefined
        ? { after: checkpoint }
        : this.#o.initialPosition === 'all' || this.#positions.has(shard)
          ? 'all'
          : await pinLatest(this.#o.stream.backend, this.#o.stream.definition, shard),
    )
  }

  #forget(shard: number, type: 'lost' | 'released'): void {
    this.#positions.delete(shard)
    this.#tokens.delete(shard)
    this.#from.delete(shard)
    this.#read.delete(shard)
    this.#o.onEvent?.({ type, shard })
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}

/**
 * A processor that hands each batch to a handler and commits after it resolved: at least once
 * (a crash replays what was handled since the last commit).
 */
export function handlerProcessor<T>(
  handler: (records: readonly StreamRecord<T>[]) => void | Promise<void>,
): RoundProcessor<T> {
  return {
    process: async (records) => {
      await handler(records)
    },
    prepare: async () => undefined,
    committed: async () => {},
    discard: async () => {},
    close: async () => {},
  }
}
