import { ArgumentError } from '@phonon/core'
import { expand } from './aggregation.js'
import type { Backend, ReadFrom, StoredRecord } from './Backend.js'
import type { StreamDefinition } from './config.js'

/** A record read from a shard. */
export interface StreamRecord<T = unknown> {
  readonly data: T
  /** The shard's Kinesis-style id, `shardId-000000000003`. */
  readonly shardId: string
  /** The shard's index. */
  readonly shard: number
  /** The sequence number of the stored record holding it. */
  readonly sequence: string
  /**
   * Its index inside an aggregated stored record (see `ProducerOptions.aggregate`); 0 when the
   * record was stored alone.
   */
  readonly subSequence: number
  /** When the backend appended it (ms). */
  readonly timestamp: number
}

/** Where an iterator starts in each of its shards. */
export type StartPosition =
  | 'latest'
  | 'all'
  | { readonly at: string }
  | { readonly after: string }
  | { readonly timestamp: number | Date }

/** Options of {@link Stream.iterator}. */
export interface IteratorOptions {
  /** Default `'latest'`: only records appended after the iterator was built. */
  readonly from?: StartPosition
  /** Shard indexes to read (a static subset); default every shard. */
  readonly shards?: readonly number[]
  /**
   * Records fetched per shard per call. Default 1,000. Reads take whole stored records: with
   * aggregated ones, as many as held about this many records in the shard's last read.
   */
  readonly batch?: number
  /** How long to wait before asking again when every shard was empty (ms). Default 100. */
  readonly idleMs?: number
}

/**
 * Reads records from a set of shards, each in sequence order, the shards in turn. `stop()` stops
 * fetching; what was already fetched is still yielded, then iteration ends.
 */
export class StreamIterator<T = unknown> implements AsyncIterable<StreamRecord<T>> {
  readonly #positions: Map<number, ReadFrom>
  /** Stored records to read next per shard (fewer than `batch` when they are aggregated). */
  readonly #limits = new Map<number, number>()
  #stopped = false
  #wake: (() => void) | undefined

  /** @internal built by {@link Stream.iterator}, which pins `latest`. */
  constructor(
    readonly stream: StreamDefinition,
    readonly backend: Backend,
    positions: Map<number, ReadFrom>,
    readonly batch: number,
    readonly idleMs: number,
  ) {
    this.#positions = positions
  }

  /** Stops fetching: records already fetched are still yielded, then the iteration ends. */
  stop(): void {
    this.#stopped = true
    this.#wake?.()
  }

  /** Where each shard will be read next from. */
  positions(): ReadonlyMap<number, ReadFrom> {
    return this.#positions
  }

  /**
   * Yields the records of each fetch in turn. A plain iterator object rather than an async
   * generator: a generator's `yield*` of a fetched array costs several promise jobs per record
   * (about 0.35 µs each), here a buffered record is one resolved promise. Calls of `next()` made
   * while a fetch is in flight wait for it, in order, as a generator's would.
   */
  [Symbol.asyncIterator](): AsyncIterator<StreamRecord<T>> {
    const DONE: IteratorReturnResult<undefined> = { value: undefined, done: true }
    let buffer: StreamRecord<T>[] = []
    let index = 0
    let done = false
    /** The last call of `next()` or `return()` still to settle, while a fetch is in flight. */
    let tail: Promise<IteratorResult<StreamRecord<T>>> | undefined
    const fill = async (): Promise<IteratorResult<StreamRecord<T>>> => {
      try {
        while (!this.#stopped) {
          buffer = await this.#fetch()
          index = 0
          if (buffer.length > 0) return { value: buffer[index++] as StreamRecord<T>, done: false }
          if (!this.#stopped) await this.#idle()
        }
      } catch (error) {
        done = true
        buffer = []
        throw error
      }
      done = true
      return DONE
    }
    const step = (): IteratorResult<StreamRecord<T>> | Promise<IteratorResult<StreamRecord<T>>> => {
      if (index < buffer.length) return { value: buffer[index++] as StreamRecord<T>, done: false }
      return done ? DONE : fill()
    }
    const settle = (
      result: IteratorResult<StreamRecord<T>> | Promise<IteratorResult<StreamRecord<T>>>,
    ): Promise<IteratorResult<StreamRecord<T>>> => {
      if (!(result instanceof Promise)) return Promise.resolve(result)
      tail = result
      const clear = () => {
        if (tail === result) tail = undefined
      }
      result.then(clear, clear)
      return result
    }
    const finish = (): IteratorReturnResult<undefined> => {
      done = true
      buffer = []
      return DONE
    }
    return {
      next: () => settle(tail === undefined ? step() : tail.then(step, step)),
      return: () => settle(tail === undefined ? finish() : tail.then(finish, finish)),
    }
  }

  /** Reads every shard once from its position, all at once (one round trip on one connection). */
  async #fetch(): Promise<StreamRecord<T>[]> {
    const shards = [...this.#positions]
    const reads = await Promise.all(
      shards.map(([shard, from]) =>
        this.backend.read(this.stream, shard, from, this.#limits.get(shard) ?? this.batch),
      ),
    )
    const fetched: StreamRecord<T>[] = []
    for (let i = 0; i < reads.length; i++) {
      const records = reads[i] as StoredRecord[]
      const shard = (shards[i] as [number, ReadFrom])[0]
      const last = records[records.length - 1]
      if (last === undefined) continue
      this.#positions.set(shard, { after: last.sequence })
      const before = fetched.length
      expand(records, shard, fetched)
      this.#limits.set(shard, storedLimit(this.batch, records.length, fetched.length - before))
    }
    return fetched
  }

  /** Waits `idleMs`, or until `stop()`. */
  async #idle(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.idleMs)
      this.#wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
    this.#wake = undefined
  }
}

/**
 * How many stored records the next read of a shard takes for about `batch` records, when its
 * last read of `stored` records held `records`.
 */
export const storedLimit = (batch: number, stored: number, records: number): number =>
  records <= stored ? batch : Math.max(1, Math.floor((batch * stored) / records))

/** The shard indexes asked for, checked. @throws {@link ArgumentError} for a bad index. */
export function shardIndexes(stream: StreamDefinition, shards?: readonly number[]): number[] {
  const all = Array.from({ length: stream.shards }, (_, i) => i)
  if (shards === undefined) return all
  for (const shard of shards) {
    if (!Number.isSafeInteger(shard) || shard < 0 || shard >= stream.shards) {
      throw new ArgumentError(
        `shard ${shard} is not an index of stream ${stream.logical} (0 to ${stream.shards - 1})`,
      )
    }
  }
  return [...new Set(shards)]
}

/** The position just past the shard's last record now: what `latest` is pinned to. */
export async function pinLatest(
  backend: Backend,
  stream: StreamDefinition,
  shard: number,
): Promise<ReadFrom> {
  if (backend.pin !== undefined) return backend.pin(stream, shard)
  const last = await backend.last(stream, shard)
  return last === undefined ? 'all' : { after: last.sequence }
}

/**
 * For backends that make no cursors: refuses one (made by another backend).
 * @throws {@link ArgumentError} for a cursor.
 */
export function assertNoCursor(
  from: ReadFrom,
): asserts from is Exclude<ReadFrom, { readonly cursor: string }> {
  if (typeof from === 'object' && 'cursor' in from) {
    throw new ArgumentError(`cursor ${from.cursor} was made by another backend`)
  }
}

/** Resolves a start position of one shard into a read position; `latest` pins the last record now. */
export async function readFrom(
  backend: Backend,
  stream: StreamDefinition,
  shard: number,
  from: StartPosition,
): Promise<ReadFrom> {
  if (from === 'all') return 'all'
  if (from === 'latest') return pinLatest(backend, stream, shard)
  if ('timestamp' in from) {
    const ms = from.timestamp instanceof Date ? from.timestamp.getTime() : from.timestamp
    if (!Number.isFinite(ms)) throw new ArgumentError(`timestamp must be a finite time, got ${ms}`)
    return { timestamp: ms }
  }
  const sequence = 'at' in from ? from.at : from.after
  if (typeof sequence !== 'string' || !/^\d+(-\d+)?$/.test(sequence)) {
    throw new ArgumentError(`a sequence number must be digits (or <ms>-<n>), got ${sequence}`)
  }
  return 'at' in from ? { at: sequence } : { after: sequence }
}
