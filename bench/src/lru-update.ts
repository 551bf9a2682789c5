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
 * `eventsPerSec` counts the offers, the flusher's drain and the close (every session released and
 * executed); the counters per event (`evictionsPerEvent`, `scriptsPerEvent`…) are those of the
 * offers and the drain, before the close. The run itself is bench/src/aggregator.ts, shared with
 * the sweep. Writes bench/results/lru-update.json.
 *
 * Run: pnpm --filter @phonon/bench bench:lru-update [-- --events N --keys N --skew S --sizes A,B
 *   --naive N (events of baseline b) --ceiling N (redis-benchmark requests)]
 */
import { startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { runAggregator } from './aggregator.js'
import { redisVersion, releaseScriptRate } from './redis.js'
import { formatRate, printTable, readFlags, writeResult } from './report.js'
import { CLICK_SHARE, coreMergeRate, generateWorkload } from './workload.js'

const flags = readFlags({
  events: '4000000',
  keys: '1000000',
  skew: '1.1',
  sizes: '10000,100000',
  naive: '1000000',
  ceiling: '200000',
  seed: '1',
})
const events = flags.integer('events')
const keys = flags.integer('keys')
const skew = flags.number('skew')
const sizes = flags.list('sizes', true)
const naiveEvents = Math.min(events, flags.integer('naive'))
const ceilingRequests = flags.integer('ceiling')
const seed = flags.integer('seed')
/** The pipeline depth of the ceiling, as the issue asks. */
const CEILING_DEPTH = 16

// The events, generated before any timing.
const workload = generateWorkload({ events, keys, skew, seed })
const { keyOf, clickOf, ids } = workload

const server = await startRedis()
const redis = await redisVersion(server)

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
    `lru-update: ${events.toLocaleString('en-US')} Zipf(${skew}) events over ${keys.toLocaleString('en-US')} keys, LRU ${sizes.join(' and ')}, redis ${redis}`,
  )
  const core = coreMergeRate(workload)
  console.log(`  (a) core merge only: ${formatRate(core)} events/s`)
  const naive = await perEventHincrby()
  console.log(`  (b) per-event HINCRBY: ${formatRate(naive)} events/s`)
  const releaseScript = await releaseScriptRate(server, ceilingRequests, CEILING_DEPTH)
  console.log(
    `  redis-benchmark release script at -P ${CEILING_DEPTH}: ${formatRate(releaseScript)} calls/s`,
  )
  const runs: Record<string, object> = {}
  const rows: string[][] = []
  for (const max of sizes) {
    const run = await runAggregator(server, workload, { max, namespace: `lru${max}` })
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
      'Redis µs/evict',
      'flush p50/p99 ms',
      'B/entry',
      '÷ ceiling',
      '÷ HINCRBY',
      '÷ core',
    ],
    rows,
  )
  const file = writeResult('lru-update', {
    workload: { events, keys, skew, seed, clickShare: CLICK_SHARE, naiveEvents, redis },
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
