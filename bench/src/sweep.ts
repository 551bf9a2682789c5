/**
 * The eviction-ratio curve: one `@phonon/lru-update` aggregator on a RedisShard (a private
 * redis-server) over a grid of LRU sizes × Zipf skews on a fixed number of keys. Each point is a
 * worker that has been running a while: events are offered and drained until the LRU is full (at
 * most `--warmup` of them; a point whose LRU never fills says so, `fullAtStart: false`), then the
 * next `--events` events are measured:
 * events/s (offers and the flusher's drain), evictions per event, hit ratio, scripts and round
 * trips per event. The close that ends the run is timed apart (`closeMs`).
 *
 * Baselines in the same run: per skew, core merge over the same events (no eviction, no Redis)
 * and one HINCRBY per event (auto-pipelined, the first `--naive` events);
 * the Redis ceiling of each point whose LRU was full, redis-benchmark's rate for the release script
 * (one resource per call, pipeline depth 16) ÷ evictions per event, as in the lru-update benchmark
 * (a point whose LRU never filled evicted nothing for capacity: it has no ceiling).
 * Writes bench/results/sweep.json; `bench:report` draws it in bench/results/sweep.svg.
 *
 * Run: pnpm --filter @phonon/bench bench:sweep [-- --events N --warmup N --keys N
 *   --skews 0.8,1.1,1.4 --sizes 1000,10000,100000 --ceiling N (redis-benchmark requests) --naive N (events of the per-event HINCRBY baseline)]
 */
import { startRedis } from '@phonon/testkit'
import { runAggregator } from './aggregator.js'
import { perEventHincrby, redisVersion, releaseScriptRate } from './redis.js'
import { formatRate, printTable, readFlags, writeResult } from './report.js'
import { CLICK_SHARE, coreMergeRate, generateWorkload } from './workload.js'

const flags = readFlags({
  events: '100000',
  warmup: '200000',
  keys: '1000000',
  skews: '0.8,1.1,1.4',
  sizes: '1000,10000,100000',
  ceiling: '100000',
  naive: '200000',
  seed: '1',
})
const events = flags.integer('events')
const warmup = flags.number('warmup')
if (!Number.isSafeInteger(warmup) || warmup < 0) {
  throw new RangeError(`--warmup must be a non-negative integer, got ${flags.text('warmup')}`)
}
const keys = flags.integer('keys')
const skews = flags.list('skews')
const sizes = flags.list('sizes', true)
const ceilingRequests = flags.integer('ceiling')
const naiveEvents = flags.integer('naive')
const seed = flags.integer('seed')
/** The pipeline depth of the ceiling, as in the lru-update benchmark. */
const CEILING_DEPTH = 16

const server = await startRedis()
try {
  const redis = await redisVersion(server)
  const points = skews.length * sizes.length
  console.log(
    `sweep: ${points} points (Zipf ${skews.join(', ')} × LRU ${sizes.map((s) => s.toLocaleString('en-US')).join(', ')}), ` +
      `up to ${warmup.toLocaleString('en-US')} warm-up events (until the LRU is full), then ${events.toLocaleString('en-US')} measured ` +
      `over ${keys.toLocaleString('en-US')} keys each, redis ${redis}`,
  )
  const releaseScript = await releaseScriptRate(server, ceilingRequests, CEILING_DEPTH)
  console.log(
    `  redis-benchmark release script at -P ${CEILING_DEPTH}: ${formatRate(releaseScript)} calls/s`,
  )
  const coreMerge: Record<string, number> = {}
  const perEvent: Record<string, number> = {}
  const results = []
  const rows: string[][] = []
  let done = 0
  for (const skew of skews) {
    const workload = generateWorkload({ events: warmup + events, keys, skew, seed })
    const core = coreMergeRate(workload)
    coreMerge[String(skew)] = Math.round(core)
    // The per-event baseline on the same events, drawn in the chart beside the points.
    const naive = await perEventHincrby(server, workload, Math.min(events, naiveEvents), 1)
    perEvent[String(skew)] = Math.round(naive.eventsPerSec)
    console.log(`  Zipf(${skew}): core merge ${formatRate(core)} events/s`)
    for (const max of sizes) {
      const started = performance.now()
      // A private server: every point starts from an empty one.
      await server.cli('flushall')
      const run = await runAggregator(workload, {
        max,
        shard: 'redis',
        server,
        warmup,
        events,
        namespace: `sweep-${skew}-${max}`,
      })
      // Without capacity evictions (an LRU that never filled) there is no ceiling to speak of.
      const ceiling = run.fullAtStart ? releaseScript / run.evictionsPerEvent : Number.NaN
      results.push({
        skew,
        ...run,
        eventsPerSec: Math.round(run.eventsPerSec),
        steadyEventsPerSec: Math.round(run.steadyEventsPerSec),
        ceilingEventsPerSec: Number.isFinite(ceiling) ? Math.round(ceiling) : null,
        ratioToCeiling: Number.isFinite(ceiling) ? run.steadyEventsPerSec / ceiling : null,
        ratioToCoreMerge: run.steadyEventsPerSec / core,
      })
      rows.push([
        `Zipf ${skew}, LRU ${max.toLocaleString('en-US')}${run.fullAtStart ? '' : ' (not full at start)'}`,
        formatRate(run.steadyEventsPerSec),
        run.evictionsPerEvent.toFixed(3),
        run.hitRatio.toFixed(3),
        run.scriptsPerEvent.toFixed(4),
        (run.steadyEventsPerSec / core).toFixed(3),
        Number.isFinite(ceiling) ? (run.steadyEventsPerSec / ceiling).toFixed(3) : '–',
      ])
      done++
      console.log(
        `  [${done}/${points}] Zipf(${skew}) LRU ${max.toLocaleString('en-US')}: ` +
          `${formatRate(run.steadyEventsPerSec)} events/s, ${run.evictionsPerEvent.toFixed(3)} evictions/event, ` +
          `hit ratio ${run.hitRatio.toFixed(3)}${run.fullAtStart ? '' : ' (LRU not full at the start)'} ` +
          `(${((performance.now() - started) / 1000).toFixed(1)} s)`,
      )
    }
  }
  printTable(
    ['point', 'events/s', 'evict/event', 'hit ratio', 'scripts/event', '÷ core', '÷ ceiling'],
    rows,
  )
  const file = writeResult('sweep', {
    workload: {
      events,
      warmup,
      keys,
      skews,
      sizes,
      seed,
      clickShare: CLICK_SHARE,
      redis,
      measure:
        'steadyEventsPerSec: measured events ÷ (their offers + the drain), after a warm-up that fills the LRU',
    },
    baselines: {
      coreMergeEventsPerSec: coreMerge,
      perEventHincrbyEventsPerSec: perEvent,
      releaseScriptCallsPerSec: Math.round(releaseScript),
      releaseScriptDepth: CEILING_DEPTH,
    },
    points: results,
  })
  console.log(`wrote ${file} (chart: pnpm --filter @phonon/bench bench:report)`)
} finally {
  await server.stop()
}
