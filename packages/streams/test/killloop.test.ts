/**
 * The kill -9 loop (issue 12): four worker processes over a 16-shard Redis stream, Zipf events,
 * a random worker SIGKILLed and restarted (fresh or reused name) every couple of seconds while
 * events are produced; then drained. The sink must equal the ground truth exactly.
 * KILL_LOOP_EVENTS (default 300,000) and KILL_LOOP_KILLS (default 5) scale it for a long run.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { connect } from '@phonon/redis-shard'
import { type RedisServer, seededRandom, startRedis, waitFor } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { defineStreams, getStream, phononSource, RedisBackend } from '../src/index.js'
import { redisSink, sinkTotals } from './fixtures/sink.js'
import { codec, truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const EVENTS = Number(process.env.KILL_LOOP_EVENTS ?? 300_000)
const KILLS = Number(process.env.KILL_LOOP_KILLS ?? 5)
const WORKER = new URL('./fixtures/worker.ts', import.meta.url).pathname
const LEASE_MS = 3_000

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server?.stop()
})

function start(name: string): ChildProcess {
  return spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', WORKER, server.url, name, String(LEASE_MS)],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  )
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once('exit', (code) => resolve(code))
  })

test(
  `kill -9 loop: ${EVENTS} events, 4 workers, 16 shards, ${KILLS} SIGKILLs: sink == truth`,
  async () => {
    const config = defineStreams({
      widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 },
    })
    const backend = new RedisBackend({ redis: server.url })
    const stream = getStream<WidgetEvent>('widgets', config, backend)
    const random = seededRandom(11)
    const workers = new Map<string, ChildProcess>()
    for (const name of ['w1', 'w2', 'w3', 'w4']) workers.set(name, start(name))
    let next = 5
    const events = [...widgetEvents(EVENTS, 5_000)]
    const truth = truthOf(events)

    const producing = (async () => {
      for (let i = 0; i < events.length; i += 5_000) {
        await stream.putMany(events.slice(i, i + 5_000))
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    for (let k = 0; k < KILLS; k++) {
      await new Promise((resolve) => setTimeout(resolve, 1_500 + random() * 1_500))
      const names = [...workers.keys()]
      const victim = names[Math.floor(random() * names.length)] as string
      const child = workers.get(victim) as ChildProcess
      child.kill('SIGKILL')
      await exited(child)
      workers.delete(victim)
      const name = random() < 0.5 ? victim : `w${next++}`
      workers.set(name, start(name))
    }
    await producing

    // Drain: every shard checkpointed at its last record, then a graceful stop of everyone.
    const last = await Promise.all(
      Array.from({ length: 16 }, (_, i) => backend.last(stream.definition, i)),
    )
    const coordinator = backend.coordinator(stream.definition, 'widgets-test')
    await waitFor(
      'every shard checkpointed',
      async () => {
        for (let i = 0; i < 16; i++) {
          if ((await coordinator.checkpoint(i)) !== last[i]?.sequence) return false
        }
        return true
      },
      90_000,
    )
    for (const child of workers.values()) child.kill('SIGTERM')
    const codes = await Promise.all([...workers.values()].map(exited))
    expect(codes).toEqual(codes.map(() => 0))

    // What killed workers left: their log entries applied, their holds recovered and executed.
    const redis = new Redis(server.url)
    const executeBatch = redisSink(redis)
    const shard = await connect({
      nodes: [server.url],
      codec: codec(),
      namespace: 'phonon',
      heartbeatMs: 100,
      deadAfterMs: 1_500,
      leaseMs: 2_000,
      execute: (claim) => executeBatch([claim]),
    })
    const source = phononSource<WidgetEvent>({
      shard,
      codec: codec(),
      max: 10,
      toUpdates: () => undefined,
      executeBatch,
    })
    await source.applyAll(coordinator)
    let totals = new Map<string, string>()
    await waitFor(
      'the sink to hold the ground truth',
      async () => {
        totals = await sinkTotals(redis)
        return totals.size >= truth.size && [...truth].every(([w, t]) => totals.get(w) === t)
      },
      30_000,
    ).catch(() => undefined)
    const wrong = [...new Set([...truth.keys(), ...totals.keys()])]
      .filter((w) => truth.get(w) !== totals.get(w))
      .slice(0, 10)
      .map((w) => `${w}: expected ${truth.get(w)}, got ${totals.get(w)}`)
    if (wrong.length > 0) {
      const keys = await redis.keys('{phonon:*')
      const kinds = new Map<string, number>()
      for (const key of keys) {
        const kind = key.slice(key.indexOf('}') + 1)
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1)
      }
      console.log('left in Redis', kinds, 'wal', (await coordinator.walEntries(0)).length)
      console.log('w18 keys', await redis.keys('{phonon:Widget.w18}*'), await redis.hgetall('{phonon:Widget.w18}:holders'))
    }
    expect(wrong).toEqual([])
    expect(await coordinator.walEntries(0)).toEqual([])
    await source.close()
    await backend.close()
    await redis.quit()
  },
  180_000,
)
