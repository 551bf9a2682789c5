import { ArgumentError, assertJson } from '@phonon/core'
import type { Backend } from './Backend.js'
import type { StreamDefinition } from './config.js'
import { RecordError } from './errors.js'
import { shardOf } from './routing.js'

/** Where a record landed: proof of receipt. */
export interface PutResult {
  /** The shard's index. */
  readonly shard: number
  /** Its sequence number in that shard. */
  readonly sequence: string
}

/** Batching bounds of a producer. */
export interface ProducerOptions {
  /** Records per shard sent in one call at most. Default 500 (Kinesis's `PutRecords` limit). */
  readonly maxBatch?: number
  /** Bytes per shard sent in one call at most. Default 5 MiB. */
  readonly maxBatchBytes?: number
  /** How long a record may wait for others to join its batch (ms). Default 0: the current turn. */
  readonly lingerMs?: number
}

interface Pending {
  readonly data: string
  readonly resolve: (result: PutResult) => void
  readonly reject: (error: unknown) => void
}

/**
 * Encodes, routes and batches records: `put` resolves once its batch was appended. Records of one
 * shard are appended in the order they were put.
 */
export class Producer {
  readonly #queues = new Map<number, { items: Pending[]; bytes: number }>()
  readonly #maxBatch: number
  readonly #maxBatchBytes: number
  readonly #lingerMs: number
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined
  #sending = Promise.resolve()

  /** @throws {@link ArgumentError} for an invalid option. */
  constructor(
    readonly stream: StreamDefinition,
    readonly backend: Backend,
    options: ProducerOptions = {},
  ) {
    this.#maxBatch = positive(options.maxBatch ?? 500, 'maxBatch')
    this.#maxBatchBytes = positive(options.maxBatchBytes ?? 5 << 20, 'maxBatchBytes')
    this.#lingerMs = options.lingerMs ?? 0
    if (!(this.#lingerMs >= 0))
      throw new ArgumentError(`lingerMs must be ≥ 0, got ${this.#lingerMs}`)
  }

  /**
   * Puts one record.
   * @throws {@link RecordError} (rejects) without the partition key field, over
   *   `maxRecordBytes`, or not JSON; nothing is written. {@link StreamError} when the backend fails.
   */
  put(record: unknown): Promise<PutResult> {
    try {
      const [shard, data] = this.encode(record)
      return this.#enqueue(shard, data)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Puts records; every one is checked first, so a bad one rejects the call with nothing written.
   * @throws {@link RecordError} naming the index of the first bad record.
   */
  putMany(records: readonly unknown[]): Promise<PutResult[]> {
    let encoded: Array<[number, string]>
    try {
      encoded = records.map((record, i) => {
        try {
          return this.encode(record)
        } catch (error) {
          const e = error as RecordError
          throw new RecordError(e.reason, `record ${i}: ${e.message}`, { cause: e })
        }
      })
    } catch (error) {
      return Promise.reject(error)
    }
    // Sent at once, a batch per shard (after what put() queued, which goes first on the wire).
    this.#send()
    const byShard = new Map<number, number[]>()
    encoded.forEach(([shard], i) => {
      const indexes = byShard.get(shard)
      if (indexes === undefined) byShard.set(shard, [i])
      else indexes.push(i)
    })
    const results: PutResult[] = new Array(encoded.length)
    const sends: Promise<void>[] = []
    for (const [shard, indexes] of byShard) {
      for (let start = 0; start < indexes.length; start += this.#maxBatch) {
        const chunk = indexes.slice(start, start + this.#maxBatch)
        const payloads = chunk.map((i) => (encoded[i] as [number, string])[1])
        sends.push(
          this.backend.append(this.stream, shard, payloads).then((sequences) => {
            chunk.forEach((i, j) => {
              results[i] = { shard, sequence: sequences[j] as string }
            })
          }),
        )
      }
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
    return [shardOf(String(value), this.stream.shards), data]
  }

  #enqueue(shard: number, data: string): Promise<PutResult> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(shard)
      if (queue === undefined) {
        queue = { items: [], bytes: 0 }
        this.#queues.set(shard, queue)
      }
      queue.items.push({ data, resolve, reject })
      queue.bytes += data.length
      if (queue.items.length >= this.#maxBatch || queue.bytes >= this.#maxBatchBytes) this.#send()
      else
        this.#timer ??=
          this.#lingerMs > 0
            ? setTimeout(() => this.#send(), this.#lingerMs)
            : setImmediate(() => this.#send())
    })
  }

  #send(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer as NodeJS.Timeout)
      clearImmediate(this.#timer as NodeJS.Immediate)
      this.#timer = undefined
    }
    const batches = [...this.#queues].filter(([, q]) => q.items.length > 0)
    this.#queues.clear()
    const sent = Promise.all(
      batches.map(async ([shard, { items }]) => {
        try {
          const sequences = await this.backend.append(
            this.stream,
            shard,
            items.map((item) => item.data),
          )
          items.forEach((item, i) => {
            item.resolve({ shard, sequence: sequences[i] as string })
          })
        } catch (error) {
          for (const item of items) item.reject(error)
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
