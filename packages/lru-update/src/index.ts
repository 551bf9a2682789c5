/**
 * `@phonon/lru-update`: the local tier of phonon. An actor-style LRU of pending updates merged in
 * process, whose sessions are folded into and released to a shard by a batching flusher; message
 * handlers wrapped so that acknowledgements follow durability.
 *
 * @packageDocumentation
 */
export { Aggregator, createAggregator } from './Aggregator.js'
export type { Failure } from './Failure.js'
export type { AggregatorStats, EndCause, LatencyStats } from './internal/Stats.js'
export {
  type BatchObservation,
  type MeterLike,
  type ObservableInstrument,
  observeMetrics,
} from './metrics.js'
export type {
  AggregatorOptions,
  BatchClaimFailure,
  BatchOutcome,
  RetryOptions,
} from './options.js'
export { batchFailures } from './options.js'
export { closeOnSignals } from './signals.js'
export { OffsetWatermarks } from './Watermarks.js'
export {
  type AckableMessage,
  type LocalAggregationOptions,
  type MessageHandler,
  withLocalAggregation,
} from './withLocalAggregation.js'
