/**
 * The kill -9 loop (issue 12): four worker processes over a 16-shard Redis stream, Zipf events,
 * a random worker SIGKILLed and restarted (fresh or reused name) every couple of seconds while
 * events are produced; every other fault is a SIGSTOP past the stream lease instead (then
 * SIGCONT): a zombie whose late round must be refused. Then drained: the sink must equal the
 * ground truth exactly. KILL_LOOP_EVENTS (default 20,000) and KILL_LOOP_FAULTS (default 4) scale
 * it for a long run (300,000 / 10 takes several minutes on this 2-core machine).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { type RedisServer, seededRandom, startRedis, waitFor } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { defineStreams, getStream, phononSource, RedisBackend } from '../src/index.js'
import { redisSink, sinkTotals, widgetShard } from './fixtures/sink.js'
import { codec, truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const EVENTS = Number(process.env.KILL_LOOP_EVENTS ?? 20_000)
const FAULTS = Number(process.env.KILL_LOOP_FAULTS ?? 4)
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

test(`kill -9 loop: ${EVENTS} events, 4 workers, 16 shards, ${FAULTS} SIGKILLs / SIGSTOPs: sink == truth`, async () => {
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
    for (let i = 0; i < events.length; i += 2_000) {
      await stream.putMany(events.slice(i, i + 2_000))
      await sleep(100)
    }
  })()
  for (let k = 0; k < FAULTS; k++) {
    await sleep(1_500 + random() * 1_500)
    const names = [...workers.keys()]
    const victim = names[Math.floor(random() * names.length)] as string
    const child = workers.get(victim) as ChildProcess
    if (k % 2 === 1) {
      child.kill('SIGSTOP')
      await sleep(LEASE_MS * 1.5)
      child.kill('SIGCONT')
      continue
    }
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
  const shard = await widgetShard(server.url, executeBatch)

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
    // What is left of phonon's resources, to tell a lost release from a pinned one.
    const held = await redis.keys('{phonon:*}:holders')
    console.log('resources still held', held.length, 'log entries', await coordinator.walEntries(0))
  }
  expect(wrong).toEqual([])
  expect(await coordinator.walEntries(0)).toEqual([])
  await source.close()
  await backend.close()
  await redis.quit()
}, 240_000)
