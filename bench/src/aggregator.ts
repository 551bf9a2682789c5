/**
 * One `@phonon/lru-update` aggregator over pre-generated events, measured: the end-to-end runs of
 * the lru-update benchmark (a RedisShard), its local-path runs (a MemoryShard, or a shard doing
 * nothing) and each point of the sweep.
 *
 * @module
 */
import { Codec, type Update } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import {
  type Claim,
  connect,
  type FoldResult,
  type Hold,
  MemoryShard,
  type ReleaseResult,
  type ResourceRef,
  type Shard,
} from '@phonon/redis-shard'
import type { RedisServer } from '@phonon/testkit'
import { redisCpuMicros, scriptMicros } from './redis.js'
import { retainedHeapBytes } from './report.js'
import { Widget, type Workload, widgetUpdate } from './workload.js'

/** Which shard the aggregator releases to. */
export type ShardKind = 'redis' | 'memory' | 'none'

/** Options of {@link runAggregator}. */
export interface AggregatorRunOptions {
  /** The LRU's size (`max`). */
  readonly max: number
  /** The shard: a RedisShard on `server`, a MemoryShard, or a shard that does nothing. */
  readonly shard: ShardKind
  /** The redis-server of a `redis` run. */
  readonly server?: RedisServer
  /** phonon's key namespace in Redis; unique per run. */
  readonly namespace: string
  /**
   * How events are offered: `add` (raw inputs, the path without allocation; default) or `offer`
   * (one `Widget.create` update per event).
   */
  readonly path?: 'add' | 'offer'
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
  readonly shard: ShardKind
  readonly path: 'add' | 'offer'
  /** Events measured. */
  readonly events: number
  /** Events offered before the measurement. */
  readonly warmup: number
  /** Whether the LRU was full when the measurement started (false: it never filled). */
  readonly fullAtStart: boolean
  /** Measured events ÷ the time to offer them and drain the flusher: the steady state. */
  readonly steadyEventsPerSec: number
  /** Measured events ÷ (steady time + the close): what a run that ends pays. */
  readonly eventsPerSec: number
  /** Measured events ÷ the time `offer` took (the flusher may still have been busy). */
  readonly offerPhaseEventsPerSec: number
  /** The time `close()` took: releasing every held session and executing the last ones. */
  readonly closeMs: number
  /** Node CPU (user + system, this process) per measured event, steady state. */
  readonly nodeCpuMicrosPerEvent: number
  /** Redis CPU (INFO cpu, user + system) per measured event, steady state; 0 without Redis. */
  readonly redisCpuMicrosPerEvent: number
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
  /** Heap retained per LRU entry, with the flusher drained (the shard's own state included). */
  readonly bytesPerEntry: number
  readonly failures: number
}

/**
 * Runs one worker: an aggregator of size `max` on the chosen shard, whose executions are a
 * no-op; the warm-up and measured events are offered (awaiting when the flusher asks to), the
 * flusher drained, then the aggregator closed (timed apart), so that every session is released
 * and executed.
 *
 * @returns rates, CPU per event, the aggregator's counters per measured event, heap per entry.
 */
export async function runAggregator(
  workload: Workload,
  options: AggregatorRunOptions,
): Promise<AggregatorRun> {
  const { max, namespace, server } = options
  const path = options.path ?? 'add'
  const codec = new Codec([Widget])
  let executions = 0
  const execute = () => void executions++
  const heapBefore = retainedHeapBytes()
  const shard: Shard =
    options.shard === 'redis'
      ? await connect({ nodes: [requireServer(server).url], codec, heartbeatMs: 0, namespace })
      : options.shard === 'memory'
        ? new MemoryShard({ codec, execute })
        : new NullShard()
  const aggregator = createAggregator({ shard, max, execute })
  // One input object, reused: `add` does not keep it.
  const input = { id: '', clicks: 0, impressions: 0 }
  const { ids, keyOf, clickOf } = workload
  const offer = async (from: number, to: number, untilFull = false) => {
    let i = from
    for (; i < to && !(untilFull && aggregator.size >= max); i++) {
      let wait: void | Promise<void>
      if (path === 'add') {
        const click = clickOf[i] as number
        input.id = ids[keyOf[i] as number] as string
        input.clicks = click
        input.impressions = 1 - click
        wait = aggregator.add(Widget, input)
      } else wait = aggregator.offer(widgetUpdate(workload, i))
      if (wait !== undefined) await wait
    }
    return i
  }
  const warmup = await offer(0, Math.min(options.warmup ?? 0, workload.events), true)
  const events = Math.min(options.events ?? Infinity, workload.events - warmup)
  const fullAtStart = aggregator.size >= max
  await aggregator.drain()
  const before = aggregator.stats()
  const redisScriptsBefore = server && options.shard === 'redis' ? await scriptMicros(server) : 0
  const redisCpuBefore = server && options.shard === 'redis' ? await redisCpuMicros(server) : 0
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await offer(warmup, warmup + events)
  const offered = performance.now()
  await aggregator.drain()
  const drained = performance.now()
  const cpu = process.cpuUsage(cpuBefore)
  const redisCpu =
    server && options.shard === 'redis' ? (await redisCpuMicros(server)) - redisCpuBefore : 0
  const redisMicros =
    server && options.shard === 'redis' ? (await scriptMicros(server)) - redisScriptsBefore : 0
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
    shard: options.shard,
    path,
    events,
    warmup,
    fullAtStart,
    steadyEventsPerSec: events / steadySeconds,
    eventsPerSec: events / (steadySeconds + (closed - closing) / 1000),
    offerPhaseEventsPerSec: events / ((offered - started) / 1000),
    closeMs: closed - closing,
    nodeCpuMicrosPerEvent: perEvent(cpu.user + cpu.system),
    redisCpuMicrosPerEvent: perEvent(redisCpu),
    hitRatio: (after.merges - before.merges) / Math.max(1, after.offers - before.offers),
    evictionsPerEvent: perEvent(evictions),
    sessions: final.inserts + final.renewals,
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

function requireServer(server: RedisServer | undefined): RedisServer {
  if (server === undefined) throw new RangeError('a redis run needs its server')
  return server
}

/**
 * A shard that does nothing: holds are minted and acquired, folds and releases answer that
 * another holder keeps the resource. What is left of a run on it is the local path alone.
 */
class NullShard implements Shard {
  readonly workerId = 'null'
  readonly incarnation = 'null'
  readonly retryWindowMs = 0
  readonly rememberExecuted = false
  #sequence = 0

  newHold(target: { resourceId: string }): Hold {
    return {
      resourceId: target.resourceId,
      typeName: 'Widget',
      token: `null:${++this.#sequence}`,
      step: 0,
    }
  }
  async acquire(target: Hold | ResourceRef | Update): Promise<Hold> {
    return 'token' in target ? target : this.newHold(target)
  }
  async acquireMany(targets: ReadonlyArray<Hold | ResourceRef | Update>): Promise<Hold[]> {
    return targets.map((target) => ('token' in target ? target : this.newHold(target)))
  }
  async fold(hold: Hold): Promise<FoldResult> {
    return {
      hold: { ...hold, step: hold.step + 1 },
      timesModified: 1,
      forcedExpiry: false,
      lost: false,
    }
  }
  async foldMany(items: ReadonlyArray<readonly [Hold, Update]>): Promise<FoldResult[]> {
    return Promise.all(items.map(([hold]) => this.fold(hold)))
  }
  async release(): Promise<ReleaseResult> {
    return { last: false, reason: 'held' }
  }
  async releaseMany(items: readonly unknown[]): Promise<ReleaseResult[]> {
    return items.map(() => ({ last: false, reason: 'held' }) as const)
  }
  async completeExecution(): Promise<Claim | undefined> {
    return undefined
  }
  async completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined>> {
    return claims.map(() => undefined)
  }
  async count(): Promise<number> {
    return 0
  }
  async timesModified(): Promise<number> {
    return 0
  }
  async forceExpiry(): Promise<void> {}
  lock(): never {
    throw new RangeError('the null shard has no locks')
  }
  stats() {
    return { roundTrips: 0, scripts: 0, shardStateLost: 0 }
  }
  async close(): Promise<void> {}
}
