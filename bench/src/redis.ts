/**
 * Redis-side helpers the benchmarks share: the server's version and script time, redis-benchmark
 * running a script on a private server, and phonon's own release script made runnable by
 * redis-benchmark.
 *
 * @module
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Codec } from '@phonon/core'
import { connect, scriptSource } from '@phonon/redis-shard'
import type { RedisServer } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { Widget, type Workload } from './workload.js'

const run = promisify(execFile)

/**
 * redis-benchmark's EVALSHA rate for a script on `server`, at pipeline depth `depth`.
 *
 * @returns script calls per second.
 * @throws Error when redis-benchmark fails or prints no rate.
 */
export async function redisBenchmark(
  server: RedisServer,
  options: {
    readonly lua: string
    readonly keys: readonly string[]
    readonly args: readonly string[]
    readonly requests: number
    readonly depth: number
  },
): Promise<number> {
  const sha = await server.cli('script', 'load', options.lua)
  const { stdout } = await run('redis-benchmark', [
    ...[
      '-p',
      String(server.port),
      '-n',
      String(options.requests),
      '-P',
      String(options.depth),
      '-q',
    ],
    ...['evalsha', sha, String(options.keys.length), ...options.keys, ...options.args],
  ])
  const match = stdout.match(/([\d.]+) requests per second/)
  if (!match) throw new Error(`cannot read redis-benchmark's output: ${stdout}`)
  return Number(match[1])
}

/**
 * redis-benchmark running phonon's own release script on one resource per call (a 2-field sum
 * model), with its holder re-added first (an acquire: the holder field and the count) and another
 * holder keeping the resource, so every call does what a plain release does plus an acquire. The
 * keeper is a real acquire, and the call's KEYS and ARGV are the shard's own (`releaseCall`), so
 * this cannot drift from the protocol.
 *
 * @returns release script calls per second.
 */
export async function releaseScriptRate(
  server: RedisServer,
  requests: number,
  depth: number,
): Promise<number> {
  const options = { nodes: [server.url], codec: new Codec([Widget]), heartbeatMs: 0 }
  const namespace = `bench${Math.random().toString(36).slice(2, 8)}`
  const [shard, keeper] = await Promise.all([
    connect({ ...options, namespace }),
    connect({ ...options, namespace }),
  ])
  try {
    await keeper.acquire(Widget.create({ id: 'r' }))
    const hold = shard.newHold(Widget.create({ id: 'r' }))
    const { keys, args } = shard.releaseCall([
      [hold, Widget.create({ id: 'r', clicks: 1, impressions: 3 })],
    ])
    // The acquire goes right before the script's body, after its includes (it uses their
    // protocol names, F.holder and F.count); the shebang stays the first line.
    const source = scriptSource('release.lua')
    const body = source.lastIndexOf('\nreturn forEachResource(')
    if (body < 0) throw new Error('release.lua: cannot find where its body starts')
    const acquire = `\nredis.call('HSET', KEYS[1], F.holder .. ${JSON.stringify(hold.token)}, 0); redis.call('HINCRBY', KEYS[1], F.count, 1)`
    const lua = source.slice(0, body) + acquire + source.slice(body)
    // Once by hand first: a script error or a refused release (a negative reply code) would be
    // counted by redis-benchmark as a call like any other.
    const client = new Redis(server.url)
    const reply = (await client
      .eval(lua, keys.length, ...keys, ...args)
      .finally(() => client.quit())) as number[][]
    if (!((reply[0]?.[0] ?? -1) >= 0))
      throw new Error(`release.lua refused: ${JSON.stringify(reply)}`)
    return await redisBenchmark(server, { lua, keys, args, requests, depth })
  } finally {
    await Promise.all([shard.close(), keeper.close()])
  }
}

/** The `redis_version` of `server` (INFO server), or `unknown`. */
export async function redisVersion(server: RedisServer): Promise<string> {
  return (await server.cli('info', 'server')).match(/redis_version:(\S+)/)?.[1] ?? 'unknown'
}

/** Microseconds `server` spent running scripts so far (INFO commandstats, EVAL and EVALSHA). */
export async function scriptMicros(server: RedisServer): Promise<number> {
  const info = await server.cli('info', 'commandstats')
  return [...info.matchAll(/cmdstat_eval(?:sha)?:calls=\d+,usec=(\d+)/g)].reduce(
    (total, [, usec]) => total + Number(usec),
    0,
  )
}

/** Microseconds of CPU `server` used so far, user + system (INFO cpu), all threads. */
export async function redisCpuMicros(server: RedisServer): Promise<number> {
  const info = await server.cli('info', 'cpu')
  const read = (name: string) => Number(info.match(new RegExp(`${name}:([\\d.]+)`))?.[1] ?? 0)
  return Math.round((read('used_cpu_user') + read('used_cpu_sys')) * 1e6)
}

/** What one-HINCRBY-per-event did: its rate, and CPU per event on each side. */
export interface PerEventRun {
  readonly eventsPerSec: number
  readonly nodeCpuMicrosPerEvent: number
  readonly redisCpuMicrosPerEvent: number
}

/**
 * The per-event baseline: the first `events` events of `workload`, one HINCRBY each, ioredis
 * auto-pipelining (10,000 in flight), what a user writes without phonon. The best of `rounds`.
 */
export async function perEventHincrby(
  server: RedisServer,
  workload: Workload,
  events: number,
  rounds: number,
): Promise<PerEventRun> {
  const { ids, keyOf, clickOf } = workload
  const client = new Redis(server.url, { enableAutoPipelining: true })
  let top: PerEventRun = { eventsPerSec: 0, nodeCpuMicrosPerEvent: 0, redisCpuMicrosPerEvent: 0 }
  try {
    for (let r = 0; r < rounds; r++) {
      const redisBefore = await redisCpuMicros(server)
      const cpu = process.cpuUsage()
      const started = performance.now()
      for (let i = 0; i < events; i += 10_000) {
        const batch: Array<Promise<number>> = []
        for (let j = i; j < Math.min(events, i + 10_000); j++) {
          const field = clickOf[j] === 1 ? 'clicks' : 'impressions'
          batch.push(client.hincrby(`naive:${ids[keyOf[j] as number]}`, field, 1))
        }
        await Promise.all(batch)
      }
      const perSec = events / ((performance.now() - started) / 1000)
      const used = process.cpuUsage(cpu)
      const redisUsed = (await redisCpuMicros(server)) - redisBefore
      if (perSec > top.eventsPerSec) {
        top = {
          eventsPerSec: perSec,
          nodeCpuMicrosPerEvent: (used.user + used.system) / events,
          redisCpuMicrosPerEvent: redisUsed / events,
        }
      }
    }
  } finally {
    await client.quit()
  }
  return top
}
