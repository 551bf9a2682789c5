/**
 * The widgets job's stream and what its workers run: the stream definition (shared by the
 * producer and every worker), and one worker — a `@phonon/streams` {@link Worker} leasing shards,
 * with the exactly-once {@link phononSource} feeding an LRU aggregator.
 */
import type { Codec } from '@phonon/core'
import type { BatchOutcome } from '@phonon/lru-update'
import type { Claim, Shard } from '@phonon/redis-shard'
import {
  type Backend,
  defineStreams,
  getStream,
  phononSource,
  type Stream,
  Worker,
} from '@phonon/streams'
import { type WidgetEvent, widgetUpdate } from './model.js'
import type { WorkerTuning } from './protocol.js'

/** A record of the stream: the seed's event and its widget, the partition key. */
export interface WidgetRecord extends WidgetEvent {
  /** `parent-target`: routes the record, so a widget's events land on one shard. */
  readonly widget: string
}

/** Consumer group of the job's workers (leases and checkpoints are per application). */
export const APPLICATION = 'widgets'

/** The job's stream: `widgets-<run>` with `shards` shards, on `backend`. */
export function widgetStream(
  name: string,
  shards: number,
  backend: Backend,
  kind: 'redis' | 'memory',
): Stream<WidgetRecord> {
  const config = defineStreams({ widgets: { name, partitionKey: 'widget', shards, backend: kind } })
  return getStream<WidgetRecord>('widgets', config, backend, { aggregate: true, maxBatch: 1_000 })
}

/** One worker of the job: leases shards of `stream`, aggregates exactly once into `shard`. */
export function widgetWorker(options: {
  readonly stream: Stream<WidgetRecord>
  readonly name: string
  readonly shard: Shard
  readonly codec: Codec
  readonly tuning: WorkerTuning
  /**
   * Writes claims to the sink: resolves with nothing (all written) or a `BatchOutcome` naming
   * the rows the database refused alone (the others are completed; those are executed again at
   * each tick, told to `onExecuteError`).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: an async callback returning nothing is Promise<void>
  readonly executeBatch: (claims: readonly Claim[]) => Promise<void | BatchOutcome>
  readonly onExecuteError?: (claim: Claim, error: unknown) => void
  readonly onError?: (error: unknown) => void
}) {
  const { tuning } = options
  const source = phononSource<WidgetRecord>({
    shard: options.shard,
    codec: options.codec,
    max: tuning.capacity,
    toUpdates: (record) => widgetUpdate(record.data),
    executeBatch: options.executeBatch,
    ...(options.onExecuteError === undefined ? {} : { onExecuteError: options.onExecuteError }),
  })
  const worker = new Worker<WidgetRecord>({
    stream: options.stream,
    application: APPLICATION,
    name: options.name,
    processor: source,
    leaseMs: tuning.leaseMs,
    roundMs: tuning.roundMs,
    roundRecords: tuning.roundRecords,
    onEvent: (event) => {
      if (event.type === 'error') options.onError?.(event.error)
    },
  })
  return { worker, source }
}
