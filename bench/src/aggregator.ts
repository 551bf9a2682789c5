/**
 * One `@phonon/lru-update` aggregator on a RedisShard over pre-generated events, measured: the
 * end-to-end run of the lru-update benchmark and each point of the sweep.
 *
 * @module
 */
import { Codec } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import { connect } from '@phonon/redis-shard'
import type { RedisServer } from '@phonon/testkit'
import { scriptMicros } from './redis.js'
import { retainedHeapBytes } from './report.js'
import { Widget, type Workload, widgetUpdate } from './workload.js'

/** Options of {@link runAggregator}. */
export interface AggregatorRunOptions {
  /** The LRU's size (`max`). */
  readonly max: number
  /** phonon's key namespace in Redis; unique per run. */
  readonly namespace: string
  /**
   * At most this many first events are offered and drained before the measurement, stopping as
   * soon as the LRU is full: the figures are then those of a worker that has been running a
   * while, not of one filling its LRU. Default 0.
   */
  readonly warmup?: number
  /** How many events are measured after the warm-up. Default: all the others. */
  readonly events?: number
}

/** What one run measured. Rates and per-event figures are of the measured events only. */
export interface AggregatorRun {
  readonly max: number
  /** Events measured. */
  readonly events: number
  /** Events offered before the measurement. */
  readonly warmup: number
  /** Whether the LRU was full when the measurement started (false: it never filled). */
  readonly fullAtStart: boolean
  /** Measured events ÷ the time to offer them, drain the flusher and close (release everything). */
  readonly eventsPerSec: number
  /** Measured events ÷ the time to offer them and drain the flusher: a worker that keeps running. */
  readonly steadyEventsPerSec: number
  /** Measured events ÷ the time `offer` took (the flusher may still have been busy). */
  readonly offerPhaseEventsPerSec: number
  /** The time `close()` took: releasing every held session and executing the last ones. */
  readonly closeMs: number
  /** Offers merged into a held entry ÷ offers. */
  readonly hitRatio: number
  /** Sessions the LRU's capacity ended ÷ events. */
  readonly evictionsPerEvent: number
  /** Sessions started, in all (warm-up and close included). */
  readonly sessions: number
  /** Executions by the sink (a no-op), in all. */
  readonly executions: number
  readonly scriptsPerEvent: number
  readonly roundTripsPerEvent: number
  readonly scriptsPerEviction: number
  readonly shardCallsPerEvent: number
  /** Microseconds Redis spent in scripts per eviction (before the close). */
  readonly redisScriptMicrosPerEviction: number
  /** The share of the steady time Redis spent running scripts. */
  readonly redisBusyShare: number
  readonly flushLatencyMs: { readonly p50: number; readonly p99: number }
  /** Heap retained per LRU entry, with the flusher drained. */
  readonly bytesPerEntry: number
  readonly failures: number
}

/**
 * Runs one worker: a RedisShard on `server` and an aggregator of size `max` whose executions are
 * a no-op; every event of `workload` is offered (awaiting when the flusher asks to), the flusher
 * drained, then the aggregator closed, so that every session is released and executed.
 *
 * @returns rates, the aggregator's counters per measured event, and heap per entry.
 */
export async function runAggregator(
  server: RedisServer,
  workload: Workload,
  options: AggregatorRunOptions,
): Promise<AggregatorRun> {
  const { max, namespace } = options
  const shard = await connect({
    nodes: [server.url],
    codec: new Codec([Widget]),
    heartbeatMs: 0,
    namespace,
  })
  let executions = 0
  const heapBefore = retainedHeapBytes()
  const aggregator = createAggregator({ shard, max, execute: () => void executions++ })
  const offer = async (from: number, to: number, untilFull = false) => {
    let i = from
    for (; i < to && !(untilFull && aggregator.size >= max); i++) {
      const wait = aggregator.offer(widgetUpdate(workload, i))
      if (wait !== undefined) await wait
    }
    return i
  }
  const warmup = await offer(0, Math.min(options.warmup ?? 0, workload.events), true)
  const events = Math.min(options.events ?? Infinity, workload.events - warmup)
  const fullAtStart = aggregator.size >= max
  await aggregator.drain()
  const before = aggregator.stats()
  const redisBefore = await scriptMicros(server)
  const started = performance.now()
  await offer(warmup, warmup + events)
  const offered = performance.now()
  await aggregator.drain()
  const drained = performance.now()
  const redisMicros = (await scriptMicros(server)) - redisBefore
  const after = aggregator.stats()
  // Two full collections: not the aggregator's work, so outside the timed phases.
  const bytesPerEntry = (retainedHeapBytes() - heapBefore) / Math.max(1, aggregator.size)
  const closing = performance.now()
  await aggregator.close()
  const closed = performance.now()
  const final = aggregator.stats()

  const steadySeconds = (drained - started) / 1000
  const evictions = after.ended.capacity - before.ended.capacity
  const scripts = after.shard.scripts - before.shard.scripts
  const perEvent = (n: number) => n / Math.max(1, events)
  return {
    max,
    events,
    warmup,
    fullAtStart,
    eventsPerSec: events / (steadySeconds + (closed - closing) / 1000),
    steadyEventsPerSec: events / steadySeconds,
    offerPhaseEventsPerSec: events / ((offered - started) / 1000),
    closeMs: closed - closing,
    hitRatio: (after.merges - before.merges) / Math.max(1, after.offers - before.offers),
    evictionsPerEvent: perEvent(evictions),
    sessions: final.inserts,
    executions,
    scriptsPerEvent: perEvent(scripts),
    roundTripsPerEvent: perEvent(after.shard.roundTrips - before.shard.roundTrips),
    scriptsPerEviction: scripts / Math.max(1, evictions),
    shardCallsPerEvent: perEvent(after.shardCalls - before.shardCalls),
    redisScriptMicrosPerEviction: redisMicros / Math.max(1, evictions),
    redisBusyShare: redisMicros / 1e6 / steadySeconds,
    flushLatencyMs: { p50: final.flushLatencyMs.p50, p99: final.flushLatencyMs.p99 },
    bytesPerEntry: Math.round(bytesPerEntry),
    failures: final.failures,
  }
}
