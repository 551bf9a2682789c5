/**
 * `@phonon/lru-update` end to end on one worker and a private redis-server: Zipf events over many
 * keys offered to an aggregator whose sessions are released to Redis (and executed by a no-op
 * sink), at two LRU sizes; with its baselines in the same run: (a) core merge only, no Redis;
 * (b) one HINCRBY per event with ioredis auto-pipelining; (c) the Redis ceiling: redis-benchmark's
 * rate for the release script (one resource per call, pipeline depth 16) ÷ one release per
 * eviction ÷ evictions per event — the events/s at which Redis would do nothing but release each
 * ended session once. (The literal formula divides by *script calls* per eviction; phonon
 * batches up to 256 resources into one call, which makes that quotient meaningless — it is
 * reported too, as `ceilingByScriptCalls`.)
 * Writes bench/results/lru-update.json.
 *
 * Run: pnpm --filter @phonon/bench bench:lru-update [-- --events N --keys N --skew S --sizes A,B
 *   --naive N (events of baseline b) --ceiling N (redis-benchmark requests)]
 */
import { parseArgs } from 'node:util'
import { Codec, defineModel, id, sum } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import { connect } from '@phonon/redis-shard'
import { cliArgs, seededRandom, startRedis, zipfSample } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { releaseScriptRate } from './redis.js'
import { formatRate, printTable, retainedHeapBytes, writeResult } from './report.js'

const { values: flags } = parseArgs({
  args: cliArgs(),
  options: {
    events: { type: 'string', default: '4000000' },
    keys: { type: 'string', default: '1000000' },
    skew: { type: 'string', default: '1.1' },
    sizes: { type: 'string', default: '10000,100000' },
    naive: { type: 'string', default: '1000000' },
    ceiling: { type: 'string', default: '200000' },
    seed: { type: 'string', default: '1' },
  },
})
const events = Number(flags.events)
const keys = Number(flags.keys)
const skew = Number(flags.skew)
const sizes = flags.sizes.split(',').map(Number)
const naiveEvents = Math.min(events, Number(flags.naive))
const seed = Number(flags.seed)
/** The pipeline depth of the ceiling, as the issue asks. */
const CEILING_DEPTH = 16

// The events, generated before any timing: key ranks and event types (1 click, 0 impression).
const keyOf = zipfSample({ n: keys, s: skew, seed, count: events })
const random = seededRandom(seed + 1)
const clickOf = new Uint8Array(events).map(() => (random() < 1 / 16 ? 1 : 0))
const ids = Array.from({ length: keys + 1 }, (_, k) => `w${k}`)

const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
const widget = (i: number) => {
  const click = clickOf[i] as number
  return Widget.create({
    id: ids[keyOf[i] as number] as string,
    clicks: click,
    impressions: 1 - click,
  })
}

const server = await startRedis()
const redisVersion = (await server.cli('info', 'server')).match(/redis_version:(\S+)/)?.[1]

/** One worker: every event offered, then close() (every session released and executed). */
async function phonon(max: number) {
  const shard = await connect({
    nodes: [server.url],
    codec: new Codec([Widget]),
    heartbeatMs: 0,
    namespace: `lru${max}`,
  })
  let executions = 0
  const redisBefore = await scriptMicros()
  const heapBefore = retainedHeapBytes()
  const aggregator = createAggregator({ shard, max, execute: () => void executions++ })
  const started = performance.now()
  for (let i = 0; i < events; i++) {
    const wait = aggregator.offer(widget(i))
    if (wait !== undefined) await wait
  }
  const offered = performance.now()
  await aggregator.drain()
  const bytesPerEntry = (retainedHeapBytes() - heapBefore) / aggregator.size
  const drained = performance.now()
  await aggregator.close()
  const closed = performance.now()
  const stats = aggregator.stats()
  const redisMicros = (await scriptMicros()) - redisBefore
  // The drain and GC above are not the aggregator's work: leave them out of the time.
  const seconds = (offered - started + (closed - drained)) / 1000
  const evictions = stats.ended.capacity
  return {
    max,
    eventsPerSec: events / seconds,
    offerPhaseEventsPerSec: events / ((offered - started) / 1000),
    hitRatio: stats.hitRatio,
    evictionsPerEvent: evictions / events,
    sessions: stats.inserts,
    executions,
    scriptsPerEvent: stats.shard.scripts / events,
    roundTripsPerEvent: stats.shard.roundTrips / events,
    scriptsPerEviction: stats.shard.scripts / Math.max(1, evictions),
    shardCallsPerEvent: stats.shardCalls / events,
    redisScriptMicrosPerEviction: redisMicros / Math.max(1, evictions),
    redisBusyShare: redisMicros / 1e6 / seconds,
    flushLatencyMs: { p50: stats.flushLatencyMs.p50, p99: stats.flushLatencyMs.p99 },
    bytesPerEntry: Math.round(bytesPerEntry),
    failures: stats.failures,
  }
}

/** Microseconds Redis spent running scripts so far (INFO commandstats). */
async function scriptMicros(): Promise<number> {
  const info = await server.cli('info', 'commandstats')
  return [...info.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)].reduce(
    (total, [, usec]) => total + Number(usec),
    0,
  )
}

/** Baseline (a): the same events merged into a Map of model updates, no eviction, no Redis. */
function coreMerge(): number {
  const held = new Map<string, ReturnType<typeof Widget.create>>()
  const started = performance.now()
  for (let i = 0; i < events; i++) {
    const update = widget(i)
    const entry = held.get(update.resourceId)
    if (entry === undefined) held.set(update.resourceId, update)
    else entry.merge(update)
  }
  return events / ((performance.now() - started) / 1000)
}

/** Baseline (b): one HINCRBY per event, auto-pipelined, what a user writes without phonon. */
async function perEventHincrby(): Promise<number> {
  const client = new Redis(server.url, { enableAutoPipelining: true })
  const started = performance.now()
  for (let i = 0; i < naiveEvents; i += 10_000) {
    const batch: Array<Promise<number>> = []
    for (let j = i; j < Math.min(naiveEvents, i + 10_000); j++) {
      const field = clickOf[j] === 1 ? 'clicks' : 'impressions'
      batch.push(client.hincrby(`naive:${ids[keyOf[j] as number]}`, field, 1))
    }
    await Promise.all(batch)
  }
  const perSec = naiveEvents / ((performance.now() - started) / 1000)
  await client.quit()
  return perSec
}

try {
  console.log(
    `lru-update: ${events.toLocaleString('en-US')} Zipf(${skew}) events over ${keys.toLocaleString('en-US')} keys, LRU ${sizes.join(' and ')}, redis ${redisVersion}`,
  )
  const core = coreMerge()
  console.log(`  (a) core merge only: ${formatRate(core)} events/s`)
  const naive = await perEventHincrby()
  console.log(`  (b) per-event HINCRBY: ${formatRate(naive)} events/s`)
  const releaseScript = await releaseScriptRate(server, Number(flags.ceiling), CEILING_DEPTH)
  console.log(
    `  redis-benchmark release script at -P ${CEILING_DEPTH}: ${formatRate(releaseScript)} calls/s`,
  )
  const runs: Record<string, object> = {}
  const rows: string[][] = []
  for (const max of sizes) {
    const run = await phonon(max)
    const ceiling = releaseScript / run.evictionsPerEvent
    const result = {
      ...run,
      ceilingEventsPerSec: Math.round(ceiling),
      ceilingByScriptCalls: Math.round(ceiling / run.scriptsPerEviction),
      ratioToCeiling: run.eventsPerSec / ceiling,
      ratioToPerEvent: run.eventsPerSec / naive,
      ratioToCoreMerge: run.eventsPerSec / core,
    }
    runs[max % 1000 === 0 ? `lru${max / 1000}k` : `lru${max}`] = {
      ...result,
      eventsPerSec: Math.round(run.eventsPerSec),
    }
    rows.push([
      `LRU ${max.toLocaleString('en-US')}`,
      formatRate(run.eventsPerSec),
      run.evictionsPerEvent.toFixed(3),
      run.scriptsPerEvent.toFixed(4),
      run.redisScriptMicrosPerEviction.toFixed(1),
      `${run.flushLatencyMs.p50.toFixed(0)}/${run.flushLatencyMs.p99.toFixed(0)}`,
      String(run.bytesPerEntry),
      result.ratioToCeiling.toFixed(2),
      result.ratioToPerEvent.toFixed(1),
      result.ratioToCoreMerge.toFixed(2),
    ])
  }
  printTable(
    [
      'run',
      'events/s',
      'evict/event',
      'scripts/event',
      'flush p50/p99 ms',
      'B/entry',
      '÷ ceiling',
      '÷ HINCRBY',
      '÷ core',
    ],
    rows,
  )
  const file = writeResult('lru-update', {
    workload: { events, keys, skew, seed, clickShare: 1 / 16, naiveEvents, redis: redisVersion },
    baselines: {
      coreMergeEventsPerSec: Math.round(core),
      perEventHincrbyEventsPerSec: Math.round(naive),
      releaseScriptCallsPerSec: Math.round(releaseScript),
      releaseScriptDepth: CEILING_DEPTH,
    },
    ...runs,
    targets: {
      lru100kEventsPerSec: 1_000_000,
      lru10kRatioToCeiling: 0.7,
      lru10kRatioToPerEvent: 3,
      lru100kRatioToPerEvent: 5,
      bytesPerEntry: 300,
    },
  })
  console.log(`wrote ${file}`)
} finally {
  await server.stop()
}
