/**
 * `@phonon/redis-shard` release throughput on a private redis-server, with its baselines in the
 * same run: redis-benchmark's EVALSHA rate for an equivalent script at the same pipeline depth
 * (the Redis limit), and naive per-event INCRBY (what a user writes without phonon).
 * Writes bench/results/redis-shard.json.
 *
 * Run: pnpm --filter @phonon/bench bench:redis-shard [-- --releases N --depth D]
 */
import { execFile } from 'node:child_process'
import { parseArgs, promisify } from 'node:util'
import { Codec, defineModel, id, sum } from '@phonon/core'
import { connect, type Hold } from '@phonon/redis-shard'
import { cliArgs, startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { formatRate, median, printTable, writeResult } from './report.js'

const run = promisify(execFile)
const { values: flags } = parseArgs({
  args: cliArgs(),
  options: {
    releases: { type: 'string', default: '200000' },
    depth: { type: 'string', default: '64' },
    inflight: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
  },
})
const releases = Number(flags.releases)
const depth = Number(flags.depth)
const inflight = Number(flags.inflight)
const rounds = Number(flags.rounds)

const Widget = defineModel('Widget', { id: id(), clicks: sum(), impressions: sum() })
const server = await startRedis()
const redisVersion = (await server.cli('info', 'server')).match(/redis_version:(\S+)/)?.[1]

/** phonon: acquire sessions (untimed), then release them in pipelined batches of `depth`. */
async function phononReleases(): Promise<{ perSec: number; roundTrips: number; scripts: number }> {
  const shard = await connect({
    nodes: [server.url],
    codec: new Codec([Widget]),
    heartbeatMs: 0,
    namespace: `b${Math.random()}`,
  })
  const keys = 10_000
  const updates = Array.from({ length: releases }, (_, i) =>
    Widget.create({ id: `w${i % keys}`, clicks: 1, impressions: 3 }),
  )
  const holds: Hold[] = []
  for (let i = 0; i < releases; i += 1000)
    holds.push(...(await shard.acquireMany(updates.slice(i, i + 1000))))
  const before = shard.stats()
  const started = performance.now()
  // `inflight` batches in flight at once, like the flusher's concurrency.
  let next = 0
  const lane = async () => {
    for (let i = next; i < releases; i = next) {
      next += depth
      const batch = holds.slice(i, i + depth).map((hold, j) => [hold, updates[i + j]] as const)
      const results = await shard.releaseMany(batch)
      const claims = results.flatMap((result) => (result.last ? [result.claim] : []))
      if (claims.length > 0) await shard.completeMany(claims)
    }
  }
  await Promise.all(Array.from({ length: inflight }, lane))
  const seconds = (performance.now() - started) / 1000
  const after = shard.stats()
  await shard.close()
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

/**
 * redis-benchmark's EVALSHA rate for a script doing what one release does to Redis: add and
 * remove a holder, fold two sums, count modifications, read the reference count.
 */
async function redisBenchmark(): Promise<number> {
  const lua = [
    "redis.call('HSET', KEYS[1], 'h', 1)",
    "redis.call('HDEL', KEYS[1], 'h')",
    "redis.call('INCRBY', KEYS[2], 1)",
    "redis.call('INCRBY', KEYS[3], 3)",
    "redis.call('INCR', KEYS[4])",
    "return redis.call('HLEN', KEYS[1])",
  ].join(' ')
  const sha = await server.cli('script', 'load', lua)
  const { stdout } = await run('redis-benchmark', [
    '-p',
    String(server.port),
    '-n',
    String(releases),
    '-P',
    String(depth),
    '-q',
    'evalsha',
    sha,
    '4',
    '{r}:h',
    '{r}:c',
    '{r}:i',
    '{r}:m',
  ])
  const match = stdout.match(/([\d.]+) requests per second/)
  if (!match) throw new Error(`cannot read redis-benchmark's output: ${stdout}`)
  return Number(match[1])
}

try {
  console.log(
    `redis-shard: ${releases.toLocaleString('en-US')} releases of a 2-field sum model, pipeline depth ${depth}, redis ${redisVersion}`,
  )
  const samples = { phonon: [] as number[], naive: [] as number[], benchmark: [] as number[] }
  let stats = { roundTrips: 0, scripts: 0 }
  for (let round = 0; round < rounds; round++) {
    const phonon = await phononReleases()
    stats = phonon
    samples.phonon.push(phonon.perSec)
    samples.naive.push(await naiveIncrby())
    samples.benchmark.push(await redisBenchmark())
    console.log(`  round ${round + 1}/${rounds} done`)
  }
  const phonon = median(samples.phonon)
  const benchmark = median(samples.benchmark)
  const naive = median(samples.naive)
  printTable(
    ['what', 'per second', 'vs redis-benchmark'],
    [
      [
        'phonon releases (pipelined)',
        formatRate(phonon),
        `${((phonon / benchmark) * 100).toFixed(0)}%`,
      ],
      ['redis-benchmark EVALSHA (same depth)', formatRate(benchmark), '100%'],
      [
        'naive per-event INCRBY ×2 (events)',
        formatRate(naive),
        `${((naive / benchmark) * 100).toFixed(0)}%`,
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
      redis: redisVersion,
    },
    ratioToRedisBenchmark: phonon / benchmark,
    releasesPerSec: Math.round(phonon),
    redisBenchmarkEvalshaPerSec: Math.round(benchmark),
    naiveIncrbyEventsPerSec: Math.round(naive),
    perRelease: {
      scriptCalls: stats.scripts / releases,
      roundTrips: stats.roundTrips / releases,
      keysAndArguments: '12 keys and 15 arguments for a 2-field model',
      redisCommands: '5 inside the script; 17 for the last holder, which claims',
    },
    target: { ratioToRedisBenchmark: 0.5, met: phonon / benchmark >= 0.5 },
    samples,
  })
  console.log(`ratioToRedisBenchmark = ${(phonon / benchmark).toFixed(2)}; wrote ${file}`)
} finally {
  await server.stop()
}
