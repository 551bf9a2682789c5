/**
 * `@phonon/redis-shard` on a private redis-server, with its baselines in the same run:
 * - per ended session of a lone worker (acquire + release-and-claim + complete, 2-sum model, in
 *   pipelined batches): Redis commands (`INFO commandstats`), bytes sent (`INFO stats`
 *   total_net_input_bytes) and Redis CPU (`INFO cpu`, main thread), against a minimal one-hash
 *   script set doing the same session (carried below) run the same way;
 * - release throughput against redis-benchmark running the same release script at the same
 *   pipeline depth (the Redis limit), a minimal 6-command script and naive per-event INCRBY;
 * - Redis memory per idle resource once its session was executed.
 * Writes bench/results/redis-shard.json.
 *
 * Run: pnpm --filter @phonon/bench bench:redis-shard [-- --releases N --depth D --sessions S]
 */
import { Codec, defineModel, id, sum } from '@phonon/core'
import { connect, type Hold } from '@phonon/redis-shard'
import { startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { redisBenchmark, redisVersion, releaseScriptRate } from './redis.js'
import { formatRate, printTable, readFlags, writeResult } from './report.js'

/**
 * The minimal one-hash design with the same hot-path guarantees (the baseline of issue 10): one
 * hash per resource with holder fields, count, claimed sums, epoch, owner and lease; idempotent
 * acquire and release; claim with epoch, owner and lease; complete by epoch. Batched like
 * phonon's scripts: KEYS[i] is resource i's hash.
 */
const BASELINE = {
  acquire: `for i = 1, #KEYS do
  if redis.call('HSETNX', KEYS[i], 'h:' .. ARGV[i], 0) == 1 then redis.call('HINCRBY', KEYS[i], 'n', 1) end
end
return #KEYS`,
  release: `local replies = {}
for i = 1, #KEYS do
  local a = 3 * i - 2
  local st = redis.call('HMGET', KEYS[i], 'h:' .. ARGV[a], 'n', 'e')
  if not st[1] then
    replies[i] = 0
  else
    local t = redis.call('TIME')
    local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
    redis.call('HSET', KEYS[i], 'c1', ARGV[a + 1], 'c2', ARGV[a + 2], 'e', string.format('%.0f', us), 'o', 'w', 'l', math.floor(us / 1000) + 30000)
    redis.call('HDEL', KEYS[i], 'h:' .. ARGV[a], 'n')
    replies[i] = { us, ARGV[a + 1], ARGV[a + 2] }
  end
end
return replies`,
  complete: `for i = 1, #KEYS do
  local st = redis.call('HMGET', KEYS[i], 'e', 'n')
  if st[1] == ARGV[i] and not st[2] then redis.call('DEL', KEYS[i]) end
end
return #KEYS`,
}

/** Redis' counters that the per-session figures come from. */
async function counters(client: Redis) {
  const info = await client.info('everything')
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0)
  let calls = 0
  for (const [, command, n] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    // Only what the sessions run: the script calls themselves and the bench's INFO are not.
    if (
      !['evalsha', 'eval', 'info', 'script', 'ping', 'client', 'select'].includes(command as string)
    )
      calls += Number(n)
  }
  return {
    calls,
    bytes: field('total_net_input_bytes'),
    cpuMicros: (field('used_cpu_user_main_thread') + field('used_cpu_sys_main_thread')) * 1e6,
    memory: field('used_memory'),
    keys: Number(/^db0:keys=(\d+)/m.exec(info)?.[1] ?? 0),
  }
}

/** Per-session figures from the counters before and after `sessions` sessions. */
function perSession(
  before: Awaited<ReturnType<typeof counters>>,
  after: Awaited<ReturnType<typeof counters>>,
  sessions: number,
) {
  return {
    calls: (after.calls - before.calls) / sessions,
    bytesSent: (after.bytes - before.bytes) / sessions,
    redisMicros: (after.cpuMicros - before.cpuMicros) / sessions,
  }
}

const flags = readFlags({
  releases: '200000',
  depth: '64',
  inflight: '8',
  rounds: '3',
  sessions: '20000',
})
const releases = flags.number('releases')
const depth = flags.number('depth')
const inflight = flags.number('inflight')
const rounds = flags.number('rounds')
const SESSIONS = flags.number('sessions')

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

/**
 * Lone-worker sessions of phonon: each batch of `depth` resources is acquired, released with a
 * 2-sum delta (claiming, as the last holder) and completed; one batch in flight, so Redis' work
 * is only this. Returns the per-session figures and the memory each idle resource keeps.
 */
async function phononSessions() {
  // The default namespace: key names as long as a deployment's (every session is deleted after).
  const codec = new Codec([Widget])
  const shard = await connect({ nodes: [server.url], codec, heartbeatMs: 0 })
  const probe = new Redis(server.url)
  const before = await counters(probe)
  for (let i = 0; i < SESSIONS; i += depth) {
    const updates = Array.from({ length: Math.min(depth, SESSIONS - i) }, (_, j) =>
      Widget.create({ id: `w${i + j}`, clicks: 1, impressions: 3 }),
    )
    const holds = (await shard.acquireMany(updates)) as Hold[]
    const results = await shard.releaseMany(holds.map((hold, j) => [hold, updates[j]] as const))
    const claims = results.flatMap((r) => (!(r instanceof Error) && r.last ? [r.claim] : []))
    if (claims.length !== holds.length) throw new Error('a lone release did not claim')
    await shard.completeMany(claims)
  }
  const after = await counters(probe)
  // The registry removals of the last batch ride on the next call: flush them before measuring.
  await shard.unregisterIdle([])
  const idle = await counters(probe)
  await Promise.all([shard.close(), probe.quit()])
  return {
    ...perSession(before, after, SESSIONS),
    bytesPerIdleResource: Math.max(0, (idle.memory - before.memory) / SESSIONS),
    keysPerIdleResource: (idle.keys - before.keys) / SESSIONS,
  }
}

/** The same sessions through the minimal baseline scripts, batched the same way. */
async function baselineSessions() {
  const client = new Redis(server.url)
  for (const [name, lua] of Object.entries(BASELINE)) client.defineCommand(`base_${name}`, { lua })
  const call = client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>
  const before = await counters(client)
  for (let i = 0; i < SESSIONS; i += depth) {
    const n = Math.min(depth, SESSIONS - i)
    const keys = Array.from({ length: n }, (_, j) => `{phonon:Widget.w${i + j}}`)
    const tokens = keys.map((_, j) => `inc:${i + j}`)
    await call.base_acquire?.(n, ...keys, ...tokens)
    const replies = (await call.base_release?.(
      n,
      ...keys,
      ...tokens.flatMap((token) => [token, '1', '3']),
    )) as Array<[number]>
    await call.base_complete?.(n, ...keys, ...replies.map((reply) => String(reply[0])))
  }
  const after = await counters(client)
  await client.quit()
  return perSession(before, after, SESSIONS)
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
  const lone: Array<Awaited<ReturnType<typeof phononSessions>>> = []
  const base: Array<Awaited<ReturnType<typeof baselineSessions>>> = []
  for (let round = 0; round < rounds; round++) {
    lone.push(await phononSessions())
    base.push(await baselineSessions())
    samples.held.push((await phononReleases('held')).perSec)
    const cycle = await phononReleases('sessions')
    stats = cycle
    samples.sessions.push(cycle.perSec)
    samples.equivalent.push(await releaseScriptRate(server, releases, depth))
    samples.minimal.push(await minimalScript())
    samples.naive.push(await naiveIncrby())
    console.log(`  round ${round + 1}/${rounds} done`)
  }
  // Rates: the best of the rounds (other work on the machine only slows a round down); CPU per
  // session: the least of the rounds, for the same reason.
  const best = (values: readonly number[]) => Math.max(...values)
  const least = (values: readonly number[]) => Math.min(...values)
  const [held, sessions, equivalent, minimal, naive] = [
    samples.held,
    samples.sessions,
    samples.equivalent,
    samples.minimal,
    samples.naive,
  ].map(best) as [number, number, number, number, number]
  const phonon = lone.reduce((a, b) => (b.redisMicros < a.redisMicros ? b : a))
  const baselineMicros = least(base.map((b) => b.redisMicros))
  const session = {
    calls: phonon.calls,
    bytesSent: phonon.bytesSent,
    redisMicros: phonon.redisMicros,
    baselineRedisMicros: baselineMicros,
    ratioToBaseline: phonon.redisMicros / baselineMicros,
    baselineCalls: base[0]?.calls,
    baselineBytesSent: base[0]?.bytesSent,
  }
  const ratio = (x: number, to: number) => `${((x / to) * 100).toFixed(0)}%`
  printTable(
    ['per ended session (lone worker)', 'phonon', 'minimal one-hash baseline'],
    [
      ['Redis commands', session.calls.toFixed(2), (session.baselineCalls ?? 0).toFixed(2)],
      ['bytes sent', session.bytesSent.toFixed(0), (session.baselineBytesSent ?? 0).toFixed(0)],
      ['Redis CPU µs', session.redisMicros.toFixed(2), baselineMicros.toFixed(2)],
    ],
  )
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
      sessions: SESSIONS,
      holdersPerResource: releases / 10_000,
      statistic: 'best of rounds (rates), least of rounds (CPU per session)',
      redis,
    },
    perSession: session,
    ratioToRedisBenchmark: held / equivalent,
    ratioToMinimalScript: held / minimal,
    ratioWithClaimsToRedisBenchmark: sessions / equivalent,
    bytesPerIdleResource: phonon.bytesPerIdleResource,
    keysPerIdleResource: phonon.keysPerIdleResource,
    releasesPerSec: Math.round(held),
    releasesWithClaimsPerSec: Math.round(sessions),
    redisBenchmarkEquivalentPerSec: Math.round(equivalent),
    redisBenchmarkMinimalPerSec: Math.round(minimal),
    naiveIncrbyEventsPerSec: Math.round(naive),
    perRelease: {
      scriptCalls: stats.scripts / releases,
      roundTrips: stats.roundTrips / releases,
    },
    target: {
      calls: 8,
      bytesSent: 300,
      ratioToBaseline: 1.25,
      ratioToRedisBenchmark: 0.8,
      met:
        session.calls <= 8 &&
        session.bytesSent <= 300 &&
        session.ratioToBaseline <= 1.25 &&
        held / equivalent >= 0.8,
    },
    samples,
  })
  console.log(
    `perSession: ${session.calls.toFixed(2)} calls, ${session.bytesSent.toFixed(0)} bytes, ${session.redisMicros.toFixed(2)} µs (baseline ${baselineMicros.toFixed(2)} µs, ratio ${session.ratioToBaseline.toFixed(2)}); ratioToRedisBenchmark = ${(held / equivalent).toFixed(2)}; wrote ${file}`,
  )
} finally {
  await server.stop()
}
