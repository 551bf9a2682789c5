/**
 * The kill -9 loop (issue 12): four worker processes over a 16-shard Redis stream, Zipf events,
 * a random worker SIGKILLed and restarted (fresh or reused name) every couple of seconds while
 * events are produced; every other fault is a SIGSTOP past the stream lease instead (then
 * SIGCONT): a zombie whose late round must be refused. Then drained: the sink must equal the
 * ground truth exactly. KILL_LOOP_EVENTS (default 20,000) and KILL_LOOP_FAULTS (default 4) scale
 * it for a long run (300,000 / 10 takes several minutes on this 2-core machine).
 */
import type { ChildProcess } from 'node:child_process'
import { type RedisServer, seededRandom, startRedis } from '@phonon/testkit'
import { afterAll, beforeAll, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { drainAndCheck, exited, startWorker } from './fixtures/loop.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const EVENTS = Number(process.env.KILL_LOOP_EVENTS ?? 20_000)
const FAULTS = Number(process.env.KILL_LOOP_FAULTS ?? 4)
const LEASE_MS = 3_000

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server?.stop()
})

const start = (name: string) => startWorker(server.url, name, LEASE_MS)

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

  await drainAndCheck(server.url, backend, stream, [...workers.values()], truth)
  await backend.close()
}, 240_000)
