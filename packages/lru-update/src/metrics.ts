import type { Aggregator } from './Aggregator.js'
import type { AggregatorStats, EndCause } from './internal/Stats.js'

/** An OpenTelemetry asynchronous instrument, as `observeMetrics` uses it (opaque). */
export type ObservableInstrument = object

/** The part of an OpenTelemetry `BatchObservableResult` that `observeMetrics` uses. */
export interface BatchObservation {
  observe(
    instrument: ObservableInstrument,
    value: number,
    attributes?: Record<string, string>,
  ): void
}

/**
 * The part of an OpenTelemetry `Meter` (`@opentelemetry/api`) that `observeMetrics` uses: any
 * meter of the OpenTelemetry API fits, and phonon does not depend on it.
 */
export interface MeterLike {
  createObservableCounter(
    name: string,
    options?: { description?: string; unit?: string },
  ): ObservableInstrument
  createObservableGauge(
    name: string,
    options?: { description?: string; unit?: string },
  ): ObservableInstrument
  addBatchObservableCallback(
    callback: (observation: BatchObservation) => void,
    instruments: ObservableInstrument[],
  ): void
  removeBatchObservableCallback(
    callback: (observation: BatchObservation) => void,
    instruments: ObservableInstrument[],
  ): void
}

/** Counters: instrument name, description, and how to read it from the stats. */
const COUNTERS: ReadonlyArray<[string, string, (s: AggregatorStats) => number]> = [
  ['phonon.lru.offers', 'updates offered', (s) => s.offers],
  ['phonon.lru.merges', 'offers merged into a held entry (hits)', (s) => s.merges],
  ['phonon.lru.inserts', 'offers that started a session (misses)', (s) => s.inserts],
  ['phonon.lru.acquires', 'holds acquired in the shard', (s) => s.acquires],
  ['phonon.lru.folds', 'partial aggregates folded, session kept', (s) => s.folds],
  ['phonon.lru.releases', 'sessions released to the shard', (s) => s.releases],
  ['phonon.lru.executions', 'global aggregates executed', (s) => s.executions],
  ['phonon.lru.failures', 'work that exhausted its retries', (s) => s.failures],
  ['phonon.lru.shard.calls', 'calls to the shard', (s) => s.shardCalls],
  ['phonon.lru.shard.round_trips', 'round trips to Redis', (s) => s.shard.roundTrips],
]

/** Gauges: instrument name, description, unit, and how to read it. */
const GAUGES: ReadonlyArray<[string, string, string, (s: AggregatorStats) => number]> = [
  ['phonon.lru.entries', 'entries held', '{entry}', (s) => s.entries],
  ['phonon.lru.queued', 'flush jobs queued or in flight', '{job}', (s) => s.queued],
  ['phonon.lru.hit_ratio', 'merges / offers', '1', (s) => s.hitRatio],
]

/**
 * Reports an aggregator's stats through an OpenTelemetry meter, read at each collection (no
 * cost per event): counters `phonon.lru.offers`, `.merges`, `.inserts`, `.acquires`, `.folds`,
 * `.releases`, `.executions`, `.failures`, `.shard.calls`, `.shard.round_trips`,
 * `phonon.lru.sessions.ended` (attribute `cause`); gauges `phonon.lru.entries`, `.queued`,
 * `.hit_ratio` and `phonon.lru.flush.latency` (ms, attribute `quantile`: `p50`, `p99`, `max`).
 *
 * @param aggregator - the aggregator to observe.
 * @param meter - an OpenTelemetry meter, e.g. `metrics.getMeter('phonon')`.
 * @param attributes - added to every observation, e.g. `{ worker: 'w1' }`.
 * @returns a function that stops reporting.
 * @example
 * import { metrics } from '@opentelemetry/api'
 * const stop = observeMetrics(aggregator, metrics.getMeter('phonon'), { worker: workerId })
 */
export function observeMetrics(
  aggregator: Aggregator,
  meter: MeterLike,
  attributes: Record<string, string> = {},
): () => void {
  const counters = COUNTERS.map(
    ([name, description, read]) =>
      [meter.createObservableCounter(name, { description }), read] as const,
  )
  const gauges = GAUGES.map(
    ([name, description, unit, read]) =>
      [meter.createObservableGauge(name, { description, unit }), read] as const,
  )
  const ended = meter.createObservableCounter('phonon.lru.sessions.ended', {
    description: 'sessions ended, by cause',
  })
  const latency = meter.createObservableGauge('phonon.lru.flush.latency', {
    description: 'from a session end or fold to its release into the shard (recent jobs)',
    unit: 'ms',
  })
  const callback = (observation: BatchObservation) => {
    const stats = aggregator.stats()
    for (const [instrument, read] of [...counters, ...gauges]) {
      observation.observe(instrument, read(stats), attributes)
    }
    for (const [cause, n] of Object.entries(stats.ended) as Array<[EndCause, number]>) {
      observation.observe(ended, n, { ...attributes, cause })
    }
    const { p50, p99, max } = stats.flushLatencyMs
    for (const [quantile, value] of Object.entries({ p50, p99, max })) {
      observation.observe(latency, value, { ...attributes, quantile })
    }
  }
  const instruments = [...counters.map(([i]) => i), ...gauges.map(([i]) => i), ended, latency]
  meter.addBatchObservableCallback(callback, instruments)
  return () => meter.removeBatchObservableCallback(callback, instruments)
}
