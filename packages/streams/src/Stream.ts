import { ArgumentError } from '@phonon/core'
import type { Backend, ReadFrom } from './Backend.js'
import type { StreamDefinition, StreamsConfig } from './config.js'
import { type IteratorOptions, readFrom, StreamIterator, shardIndexes } from './Iterator.js'
import { Producer, type ProducerOptions, type PutResult } from './Producer.js'

/** Lag of one shard behind its latest record, for an application's checkpoint. */
export interface ShardLag {
  readonly shard: number
  /** The checkpoint, or undefined before the first. */
  readonly checkpoint: string | undefined
  /** The shard's last sequence, or undefined when empty. */
  readonly latest: string | undefined
  /** Time from the checkpointed record to the latest one (ms; Kinesis's MillisBehindLatest). */
  readonly millisBehindLatest: number
  /** Records after the checkpoint, counted up to `limit` of {@link Stream.lag}. */
  readonly recordsBehind: number
}

/**
 * A logical stream: put records (routed by their partition key), read them with iterators, see
 * an application's lag. Made by {@link getStream}.
 */
export class Stream<T = unknown> {
  readonly producer: Producer

  constructor(
    readonly definition: StreamDefinition,
    readonly backend: Backend,
    producerOptions?: ProducerOptions,
  ) {
    this.producer = new Producer(definition, backend, producerOptions)
  }

  /** Puts a record. @see {@link Producer.put} */
  put(record: T): Promise<PutResult> {
    return this.producer.put(record)
  }

  /** Puts records. @see {@link Producer.putMany} */
  putMany(records: readonly T[]): Promise<PutResult[]> {
    return this.producer.putMany(records)
  }

  /**
   * An iterator over some or all shards; `latest` is pinned now, so nothing appended between
   * this call and the first read is missed.
   * @throws {@link ArgumentError} for a shard that is not an index, a bad sequence or timestamp.
   */
  async iterator(options: IteratorOptions = {}): Promise<StreamIterator<T>> {
    const batch = options.batch ?? 1_000
    const idleMs = options.idleMs ?? 100
    if (!Number.isSafeInteger(batch) || batch < 1) {
      throw new ArgumentError(`batch must be an integer ≥ 1, got ${batch}`)
    }
    const positions = new Map<number, ReadFrom>()
    for (const shard of shardIndexes(this.definition, options.shards)) {
      positions.set(
        shard,
        await readFrom(this.backend, this.definition, shard, options.from ?? 'latest'),
      )
    }
    return new StreamIterator<T>(this.definition, this.backend, positions, batch, idleMs)
  }

  /** Lag per shard of `application`'s checkpoints. */
  async lag(application: string, limit = 10_000): Promise<ShardLag[]> {
    const coordinator = this.backend.coordinator(this.definition, application)
    const lags: ShardLag[] = []
    for (const shard of shardIndexes(this.definition)) {
      const checkpoint = await coordinator.checkpoint(shard)
      const last = await this.backend.last(this.definition, shard)
      const after = await this.backend.read(
        this.definition,
        shard,
        checkpoint === undefined ? 'all' : { after: checkpoint },
        limit,
      )
      lags.push({
        shard,
        checkpoint,
        latest: last?.sequence,
        millisBehindLatest:
          last === undefined || after[0] === undefined ? 0 : last.timestamp - after[0].timestamp,
        recordsBehind: after.length,
      })
    }
    return lags
  }
}

/**
 * The stream a logical name maps to.
 * @throws {@link ArgumentError} when the config has no such stream.
 * @example
 * const stream = getStream('clicks', loadConfig('streams.yaml'), new RedisBackend({ redis: url }))
 * const { shard, sequence } = await stream.put({ widget: 'w1', type: 'click' })
 */
export function getStream<T = unknown>(
  name: string,
  config: StreamsConfig,
  backend: Backend,
  producerOptions?: ProducerOptions,
): Stream<T> {
  const definition = config.get(name)
  if (definition === undefined) {
    throw new ArgumentError(
      `no stream ${name} in the config (it has ${[...config.keys()].join(', ') || 'none'})`,
    )
  }
  return new Stream<T>(definition, backend, producerOptions)
}
