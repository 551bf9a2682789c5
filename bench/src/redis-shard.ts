/**
 * `@phonon/redis-shard` release throughput on a private redis-server, with its baselines in the
 * same run: redis-benchmark's EVALSHA rate for an equivalent script at the same pipeline depth
 * (the Redis limit), and naive per-event INCRBY (what a user writes without phonon).
 * Writes bench/results/redis-shard.json.
 *
 * Run: pnpm --filter @phonon/bench bench:redis-shard [-- --releases N --depth D]
 */
import { Codec, defineModel, id, sum } from '@phonon/core'
import { connect, type Hold } from '@phonon/redis-shard'
import { startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { redisBenchmark, redisVersion, releaseScriptRate } from './redis.js'
import { formatRate, median, printTable, readFlags, writeResult } from './report.js'

const flags = readFlags({ releases: '200000', depth: '64', inflight: '8', rounds: '3' })
const releases = flags.number('releases')
const depth = flags.number('depth')
const inflight = flags.number('inflight')
const rounds = flags.number('rounds')

const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
const server = await startRedis()
const redis = await redisVersion(server)

/**
 * phonon: acquire sessions (untimed), then release them in pipelined batches of `depth`, with
 * `inflight` batches in flight. `sessions`: 10 holders per resource, the last of which claims and
 * completes (the whole cycle); `held`: another worker keeps holding every resource, so every
 * release is a plain one (what the equivalent redis-benchmark script does).
 */
async function phononReleases(mode: 'sessions' | 'held') {
  const namespace = `b${Math.random()}`
  const codec = new Codec([Widget])
  const shard = await connect({ nodes: [server.url], codec, heartbeatMs: 0, namespace })
  const keeper = await connect({ nodes: [server.url], codec, heartbeatMs: 0, namespace })
  const keys = 10_000
  const updates = Array.from({ length: releases }, (_, i) =>
    Widget.create({ id: `w${i % keys}`, clicks: 1, impressions: 3 }),
  )
  if (mode === 'held') await keeper.acquireMany(updates.slice(0, keys))
  const holds: Hold[] = []
  for (let i = 0; i < releases; i += 1000)
    holds.push(...((await shard.acquireMany(updates.slice(i, i + 1000))) as Hold[]))
  const before = shard.stats()
  const started = performance.now()
  let next = 0
  const lane = async () => {
    for (let i = next; i < releases; i = next) {
      next += depth
      const batch = holds.slice(i, i + depth).map((hold, j) => [hold, updates[i + j]] as const)
      const results = await shard.releaseMany(batch)
      const claims = results.flatMap((result) =>
        !(result instanceof Error) && result.last ? [result.claim] : [],
      )
      if (claims.length > 0) await shard.completeMany(claims)
    }
  }
  await Promise.all(Array.from({ length: inflight }, lane))
  const seconds = (performance.now() - started) / 1000
  const after = shard.stats()
  await Promise.all([shard.close(), keeper.close()])
  return {
    perSec: releases / seconds,
    roundTrips: after.roundTrips - before.roundTrips,
    scripts: after.scripts - before.scripts,
  }
}

/** Naive: one INCRBY per field per event, auto-pipelined by ioredis. */
async function naiveIncrby(): Promise<number> {
  const client = new Redis(server.url, { enableAutoPipelining: true })
  const events = releases
  const started = performance.now()
  for (let i = 0; i < events; i += depth) {
    const batch = []
    for (let j = i; j < Math.min(events, i + depth); j++) {
      batch.push(
        client.incrby(`naive:w${j % 10_000}:clicks`, 1),
        client.incrby(`naive:w${j % 10_000}:impressions`, 3),
      )
    }
    await Promise.all(batch)
  }
  const perSec = events / ((performance.now() - started) / 1000)
  await client.quit()
  return perSec
}

/** A minimal script of 6 commands: add and remove a holder, fold two sums, count, read. */
function minimalScript(): Promise<number> {
  const lua = [
    "redis.call('HSET', KEYS[1], 'h', 1)",
    "redis.call('HDEL', KEYS[1], 'h')",
    "redis.call('INCRBY', KEYS[2], 1)",
    "redis.call('INCRBY', KEYS[3], 3)",
    "redis.call('INCR', KEYS[4])",
    "return redis.call('HLEN', KEYS[1])",
  ].join(' ')
  const keys = ['{r}:h', '{r}:c', '{r}:i', '{r}:m']
  return redisBenchmark(server, { lua, keys, args: [], requests: releases, depth })
}

try {
  console.log(
    `redis-shard: ${releases.toLocaleString('en-US')} releases of a 2-field sum model, pipeline depth ${depth}, ${inflight} batches in flight, redis ${redis}`,
  )
  const samples = {
    held: [] as number[],
    sessions: [] as number[],
    equivalent: [] as number[],
    minimal: [] as number[],
    naive: [] as number[],
  }
  let stats = { roundTrips: 0, scripts: 0 }
  for (let round = 0; round < rounds; round++) {
    samples.held.push((await phononReleases('held')).perSec)
    const cycle = await phononReleases('sessions')
    stats = cycle
    samples.sessions.push(cycle.perSec)
    samples.equivalent.push(await releaseScriptRate(server, releases, depth))
    samples.minimal.push(await minimalScript())
    samples.naive.push(await naiveIncrby())
    console.log(`  round ${round + 1}/${rounds} done`)
  }
  const [held, sessions, equivalent, minimal, naive] = [
    samples.held,
    samples.sessions,
    samples.equivalent,
    samples.minimal,
    samples.naive,
  ].map(median) as [number, number, number, number, number]
  const ratio = (x: number, to: number) => `${((x / to) * 100).toFixed(0)}%`
  printTable(
    ['what', 'per second', 'vs equivalent', 'vs minimal'],
    [
      [
        'phonon releases, resource held elsewhere',
        formatRate(held),
        ratio(held, equivalent),
        ratio(held, minimal),
      ],
      [
        'phonon releases, with claims + completes',
        formatRate(sessions),
        ratio(sessions, equivalent),
        ratio(sessions, minimal),
      ],
      [
        'redis-benchmark: the release script',
        formatRate(equivalent),
        '100%',
        ratio(equivalent, minimal),
      ],
      [
        'redis-benchmark: a 6-command script',
        formatRate(minimal),
        ratio(minimal, equivalent),
        '100%',
      ],
      [
        'naive per-event INCRBY ×2 (events)',
        formatRate(naive),
        ratio(naive, equivalent),
        ratio(naive, minimal),
      ],
    ],
  )
  const file = writeResult('redis-shard', {
    workload: {
      releases,
      depth,
      inflight,
      rounds,
      keys: 10_000,
      holdersPerResource: releases / 10_000,
      statistic: 'median',
      redis,
    },
    ratioToRedisBenchmark: held / equivalent,
    ratioToMinimalScript: held / minimal,
    ratioWithClaimsToRedisBenchmark: sessions / equivalent,
    releasesPerSec: Math.round(held),
    releasesWithClaimsPerSec: Math.round(sessions),
    redisBenchmarkEquivalentPerSec: Math.round(equivalent),
    redisBenchmarkMinimalPerSec: Math.round(minimal),
    naiveIncrbyEventsPerSec: Math.round(naive),
    perRelease: {
      scriptCalls: stats.scripts / releases,
      roundTrips: stats.roundTrips / releases,
      keysAndArguments: '12 keys and 15 arguments for a 2-field model',
      redisCommands: '5 inside the script; 17 for the last holder, which claims',
    },
    target: { ratioToRedisBenchmark: 0.5, met: held / equivalent >= 0.5 },
    samples,
  })
  console.log(`ratioToRedisBenchmark = ${(held / equivalent).toFixed(2)}; wrote ${file}`)
} finally {
  await server.stop()
}
