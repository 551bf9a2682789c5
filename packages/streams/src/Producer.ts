import { randomUUID } from 'node:crypto'
import { ArgumentError, assertJson } from '@phonon/core'
import { aggregate, aggregateBytes } from './aggregation.js'
import { type Backend, PRODUCER_WINDOW } from './Backend.js'
import type { StreamDefinition } from './config.js'
import { RecordError, StreamError } from './errors.js'
import { shardOf } from './routing.js'

/** Where a record landed: proof of receipt. */
export interface PutResult {
  /** The shard's index. */
  readonly shard: number
  /** The sequence number of the stored record holding it in that shard. */
  readonly sequence: string
  /** Its index inside an aggregated stored record; 0 when stored alone. */
  readonly subSequence: number
}

/** Batching bounds, identity and retries of a producer. */
export interface ProducerOptions {
  /**
   * The producer's id (letters, digits, `_ . : -`, up to 128): on Redis and memory each record's
   * (id, shard, sequence) is appended once, however often its batch is sent. Give the same id to
   * a restarted process to continue the id's sequences (its older processes are fenced: see
   * {@link ProducerFenced}); one id is one live producer. Default: a random UUID per producer.
   */
  readonly producerId?: string
  /**
   * Times a batch whose append failed with a {@link StreamError} (its outcome unknown) is sent
   * again, 50 ms · 2^attempt apart, on a backend that dedupes (Redis, memory): the same
   * sequences, so never appended twice. Default 3. Always 0 on Kinesis (at least once: a
   * retry could store records twice).
   */
  readonly retries?: number
  /**
   * Batches per shard in flight at once, at most {@link PRODUCER_WINDOW} (the batches a backend
   * remembers per producer to answer one sent again). Default {@link PRODUCER_WINDOW}.
   */
  readonly maxInFlight?: number
  /**
   * Records per shard sent in one call at most — with `aggregate`, user records per stored
   * record. Default 500 (Kinesis's `PutRecords` limit).
   */
  readonly maxBatch?: number
  /**
   * Bytes per shard sent in one call at most — with `aggregate`, per stored record, and never
   * over the backend's record limit (Kinesis: 1 MiB). Default 5 MiB.
   */
  readonly maxBatchBytes?: number
  /** How long a record may wait for others to join its batch (ms). Default 0: the current turn. */
  readonly lingerMs?: number
  /**
   * Packs the records of a batch bound for one shard into one stored record, as the Kinesis
   * Producer Library aggregates; every reader unpacks them (see the README, "Aggregation").
   * Default false: a stored record per record.
   */
  readonly aggregate?: boolean
}

/** Partition keys whose shard a producer remembers (then it forgets them all). */
const ROUTES = 65_536

interface Pending {
  readonly resolve: (result: PutResult) => void
  readonly reject: (error: unknown) => void
}

/** A producer's sequences on one shard. */
interface ShardSequences {
  /** Its epoch there (0 with a random id). */
  readonly epoch: number
  /** The sequence of the next record. */
  next: number
  /** First sequences of the batches in flight or given up (ascending): the floor is the first. */
  open: number[]
  /** First sequences of the batches given up (a failure not retried, or out of retries). */
  readonly given: Set<number>
  /** Batches in flight, and the batches waiting for a slot (first in, first out). */
  inFlight: number
  readonly waiters: Array<() => void>
}

const PRODUCER_ID = /^[A-Za-z0-9_.:-]{1,128}$/

interface Queue {
  datas: string[]
  sizes: number[]
  pending: Pending[]
  bytes: number
}

/**
 * Encodes, routes and batches records: `put` resolves once its batch was appended. Records of one
 * shard are appended in the order they were put.
 *
 * Exactly once on Redis and memory: every record gets the producer's next sequence number on its
 * shard, and the backend appends a (producer, shard, sequence) once — a batch sent again (a retry,
 * or a command the client resent after a lost reply) is answered with the first append's sequence
 * numbers. A put that resolved is in the stream once; a put that rejected with a
 * {@link StreamError} is in it once or not at all (never twice); one that rejected with a
 * {@link SequenceError} or {@link ProducerFenced} is not in it. Kinesis: at least once.
 */
export class Producer {
  /** The producer's id: given, or random. */
  readonly id: string
  readonly #resumes: boolean
  readonly #retries: number
  readonly #maxInFlight: number
  readonly #sequences = new Map<number, Promise<ShardSequences>>()
  readonly #queues = new Map<number, Queue>()
  /** Partition key → shard, for keys seen lately. */
  readonly #routes = new Map<string, number>()
  readonly #maxBatch: number
  readonly #maxBatchBytes: number
  readonly #lingerMs: number
  readonly #aggregate: boolean
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  #sending = Promise.resolve()

  /** @throws {@link ArgumentError} for an invalid option. */
  constructor(
    readonly stream: StreamDefinition,
    readonly backend: Backend,
    options: ProducerOptions = {},
  ) {
    this.#resumes = options.producerId !== undefined
    this.id = options.producerId ?? randomUUID()
    if (!PRODUCER_ID.test(this.id)) {
      throw new ArgumentError(
        `producerId must be 1 to 128 letters, digits or _ . : -, got ${JSON.stringify(this.id)}`,
      )
    }
    this.#retries = backend.idempotent ? (options.retries ?? 3) : 0
    if (!Number.isSafeInteger(this.#retries) || this.#retries < 0)
      throw new ArgumentError(`retries must be an integer ≥ 0, got ${options.retries}`)
    this.#maxInFlight = positive(options.maxInFlight ?? PRODUCER_WINDOW, 'maxInFlight')
    if (this.#maxInFlight > PRODUCER_WINDOW)
      throw new ArgumentError(
        `maxInFlight must be ≤ ${PRODUCER_WINDOW} (the batches a backend remembers), got ${this.#maxInFlight}`,
      )
    this.#maxBatch = positive(options.maxBatch ?? 500, 'maxBatch')
    this.#maxBatchBytes = positive(options.maxBatchBytes ?? 5 << 20, 'maxBatchBytes')
    this.#lingerMs = options.lingerMs ?? 0
    if (!(this.#lingerMs >= 0))
      throw new ArgumentError(`lingerMs must be ≥ 0, got ${this.#lingerMs}`)
    this.#aggregate = options.aggregate ?? false
    if (this.#aggregate) {
      this.#maxBatchBytes = Math.min(this.#maxBatchBytes, backend.maxRecordBytes ?? Infinity)
    }
  }

  /**
   * Puts one record.
   * @throws {@link RecordError} (rejects) without the partition key field, over
   *   `maxRecordBytes`, or not JSON; nothing is written. {@link StreamError} when the backend fails.
   */
  put(record: unknown): Promise<PutResult> {
    let shard: number
    let data: string
    let bytes: number
    try {
      ;[shard, data, bytes] = this.#encode(record)
    } catch (error) {
      return Promise.reject(error)
    }
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(shard)
      if (queue === undefined) {
        queue = { datas: [], sizes: [], pending: [], bytes: 0 }
        this.#queues.set(shard, queue)
      }
      queue.datas.push(data)
      queue.sizes.push(bytes)
      queue.pending.push({ resolve, reject })
      queue.bytes += bytes
      if (queue.datas.length >= this.#maxBatch || queue.bytes >= this.#maxBatchBytes) this.#send()
      else
        this.#timer ??=
          this.#lingerMs > 0
            ? setTimeout(() => this.#send(), this.#lingerMs)
            : setImmediate(() => this.#send())
    })
  }

  /**
   * Puts records; every one is checked first, so a bad one rejects the call with nothing written.
   * They are sent at once, in batches per shard within `maxBatch` and `maxBatchBytes`.
   * @throws {@link RecordError} naming the index of the first bad record.
   * @throws {@link StreamError} (rejects) when the backend fails.
   */
  putMany(records: readonly unknown[]): Promise<PutResult[]> {
    const byShard = new Map<number, { indexes: number[]; datas: string[]; sizes: number[] }>()
    try {
      for (let i = 0; i < records.length; i++) {
        let encoded: [number, string, number]
        try {
          encoded = this.#encode(records[i])
        } catch (error) {
          const e = error as RecordError
          throw new RecordError(e.reason, `record ${i}: ${e.message}`, { cause: e })
        }
        const [shard, data, bytes] = encoded
        let group = byShard.get(shard)
        if (group === undefined) {
          group = { indexes: [], datas: [], sizes: [] }
          byShard.set(shard, group)
        }
        group.indexes.push(i)
        group.datas.push(data)
        group.sizes.push(bytes)
      }
    } catch (error) {
      return Promise.reject(error)
    }
    // Sent at once (after what put() queued, which goes first on the wire).
    this.#send()
    const results: PutResult[] = new Array(records.length)
    const sends: Promise<void>[] = []
    for (const [shard, { indexes, datas, sizes }] of byShard) {
      sends.push(
        this.#append(shard, datas, sizes).then((out) => {
          for (let j = 0; j < indexes.length; j++)
            results[indexes[j] as number] = out[j] as PutResult
        }),
      )
    }
    const sent = Promise.all(sends).then(() => results)
    this.#sending = Promise.all([this.#sending, sent.catch(() => undefined)]).then(() => undefined)
    return sent
  }

  /** Sends what is queued now; resolves once everything put so far was appended (or failed). */
  async flush(): Promise<void> {
    this.#send()
    await this.#sending
  }

  /**
   * A record's shard and JSON text.
   * @throws {@link RecordError} as {@link Producer.put} does.
   */
  encode(record: unknown): [number, string] {
    const [shard, data] = this.#encode(record)
    return [shard, data]
  }

  #encode(record: unknown): [number, string, number] {
    const key = this.stream.partitionKey
    const value =
      typeof record === 'object' && record !== null
        ? (record as Record<string, unknown>)[key]
        : undefined
    if ((typeof value !== 'string' && typeof value !== 'number') || value === '') {
      throw new RecordError('no-partition-key', `the record has no partition key ${key}`)
    }
    let data: string
    try {
      assertJson(record, 'record')
      data = JSON.stringify(record)
    } catch (error) {
      throw new RecordError('not-json', (error as Error).message, { cause: error })
    }
    const bytes = Buffer.byteLength(data)
    if (bytes > this.stream.maxRecordBytes) {
      throw new RecordError(
        'oversized',
        `the record is ${bytes} bytes, over max_record_bytes ${this.stream.maxRecordBytes}`,
      )
    }
    const partitionKey = String(value)
    let shard = this.#routes.get(partitionKey)
    if (shard === undefined) {
      shard = shardOf(partitionKey, this.stream.shards)
      // Keys repeat (a widget, a user): their MD5 is worked out once while they stay in the map.
      if (this.#routes.size >= ROUTES) this.#routes.clear()
      this.#routes.set(partitionKey, shard)
    }
    return [shard, data, bytes]
  }

  /**
   * Appends one shard's records (`sizes`: their bytes) in batches within the bounds: a call per
   * batch, or with `aggregate` a stored record per batch, all in one call. Their results, in order.
   */
  async #append(shard: number, datas: string[], sizes: number[]): Promise<PutResult[]> {
    const batches: Array<[start: number, end: number]> = []
    for (let start = 0, end = 0, bytes = 0; end <= datas.length; end++) {
      const size = end < datas.length ? (sizes[end] as number) : 0
      const full =
        end === datas.length ||
        end - start === this.#maxBatch ||
        (end > start &&
          (this.#aggregate ? aggregateBytes(end - start + 1, bytes + size) : bytes + size) >
            this.#maxBatchBytes)
      if (full && end > start) {
        batches.push([start, end])
        start = end
        bytes = 0
      }
      bytes += size
    }
    const results: PutResult[] = new Array(datas.length)
    if (this.#aggregate) {
      // A batch of one is stored plain: readers tell the two apart.
      const payloads = batches.map(([start, end]) =>
        end - start === 1 ? (datas[start] as string) : aggregate(datas.slice(start, end)),
      )
      const sequences = await this.#appendBatch(shard, payloads)
      batches.forEach(([start, end], b) => {
        const sequence = sequences[b] as string
        for (let i = start; i < end; i++) results[i] = { shard, sequence, subSequence: i - start }
      })
    } else {
      await Promise.all(
        batches.map(async ([start, end]) => {
          const sequences = await this.#appendBatch(shard, datas.slice(start, end))
          for (let i = start; i < end; i++) {
            results[i] = { shard, sequence: sequences[i - start] as string, subSequence: 0 }
          }
        }),
      )
    }
    return results
  }

  /**
   * Appends one batch to a shard under the producer's next sequences, once a slot of
   * `maxInFlight` is free (slots are taken in call order, so batches go out in order); sends it
   * again (same sequences) after a {@link StreamError}, up to `retries` times.
   */
  async #appendBatch(shard: number, payloads: readonly string[]): Promise<string[]> {
    const s = await this.#shardSequences(shard)
    if (s.inFlight >= this.#maxInFlight || s.waiters.length > 0) {
      await new Promise<void>((resolve) => s.waiters.push(resolve))
    } else s.inFlight++
    const first = s.next
    s.next += payloads.length
    s.open.push(first)
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const sequences = await this.backend.append(
            this.stream,
            shard,
            payloads,
            this.backend.idempotent
              ? { producerId: this.id, epoch: s.epoch, first, floor: s.open[0] as number }
              : undefined,
          )
          // Appended: the sequences below it are resolved, those given up skipped for good.
          s.open = s.open.filter((f) => f > first || (f < first && !s.given.has(f)))
          for (const f of s.given) if (f < first) s.given.delete(f)
          return sequences
        } catch (error) {
          if (!(error instanceof StreamError) || attempt >= this.#retries) {
            s.given.add(first)
            throw error
          }
          await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt))
        }
      }
    } finally {
      const waiter = s.waiters.shift()
      if (waiter === undefined) s.inFlight--
      else waiter() // the slot passes on
    }
  }

  /** The producer's sequences on a shard: from 1, or where its given id left off (a new epoch). */
  #shardSequences(shard: number): Promise<ShardSequences> {
    let sequences = this.#sequences.get(shard)
    if (sequences === undefined) {
      const init =
        this.#resumes && this.backend.initProducer !== undefined
          ? this.backend.initProducer(this.stream, shard, this.id)
          : Promise.resolve({ epoch: 0, next: 1 })
      sequences = init.then(
        ({ epoch, next }) => ({
          epoch,
          next,
          open: [],
          given: new Set(),
          inFlight: 0,
          waiters: [],
        }),
        (error) => {
          this.#sequences.delete(shard) // the next batch tries again
          throw error
        },
      )
      this.#sequences.set(shard, sequences)
    }
    return sequences
  }

  #send(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer as NodeJS.Timeout)
      clearImmediate(this.#timer as NodeJS.Immediate)
      this.#timer = undefined
    }
    const queues = [...this.#queues]
    this.#queues.clear()
    const sent = Promise.all(
      queues.map(async ([shard, { datas, sizes, pending }]) => {
        if (datas.length === 0) return
        try {
          const results = await this.#append(shard, datas, sizes)
          for (let i = 0; i < pending.length; i++) {
            ;(pending[i] as Pending).resolve(results[i] as PutResult)
          }
        } catch (error) {
          for (const item of pending) item.reject(error)
        }
      }),
    )
    this.#sending = Promise.all([this.#sending, sent]).then(() => undefined)
  }
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ArgumentError(`${name} must be an integer ≥ 1, got ${value}`)
  }
  return value
}
