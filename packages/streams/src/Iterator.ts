import { ArgumentError } from '@phonon/core'
import { expand } from './aggregation.js'
import type { Backend, ReadFrom } from './Backend.js'
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

  async *[Symbol.asyncIterator](): AsyncIterator<StreamRecord<T>> {
    while (!this.#stopped) {
      // Every shard asked at once (one round trip on one connection), then yielded in turn.
      const shards = [...this.#positions]
      const reads = await Promise.all(
        shards.map(([shard, from]) =>
          this.backend.read(this.stream, shard, from, this.#limits.get(shard) ?? this.batch),
        ),
      )
      const fetched: StreamRecord<T>[] = []
      for (const [i, records] of reads.entries()) {
        const shard = (shards[i] as [number, ReadFrom])[0]
        const last = records.at(-1)
        if (last !== undefined) this.#positions.set(shard, { after: last.sequence })
        const before = fetched.length
        expand(records, shard, fetched)
        if (records.length > 0)
          this.#limits.set(shard, storedLimit(this.batch, records.length, fetched.length - before))
      }
      yield* fetched
      if (fetched.length === 0 && !this.#stopped) {
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
