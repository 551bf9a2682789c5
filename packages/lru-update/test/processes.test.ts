import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type RedisServer, startRedis, waitFor, zipfSample } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const CONSUMER = fileURLToPath(new URL('./fixtures/consumer.ts', import.meta.url))
const EVENTS = 12_000
const WIDGETS = 1_000

let server: RedisServer
let redis: Redis
const children: ChildProcess[] = []
beforeEach(async () => {
  server = await startRedis()
  redis = new Redis(server.url)
})
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  redis.disconnect()
  await server.stop()
})

/** XADDs a Zipf(1.1) stream of widget events; returns the ground truth per widget. */
async function produce(): Promise<Map<string, { clicks: number; impressions: number }>> {
  const truth = new Map<string, { clicks: number; impressions: number }>()
  const widgets = zipfSample({ n: WIDGETS, s: 1.1, seed: 7, count: EVENTS })
  await redis.xgroup('CREATE', 'events', 'workers', '0', 'MKSTREAM')
  for (let start = 0; start < EVENTS; start += 1000) {
    const pipeline = redis.pipeline()
    for (let i = start; i < start + 1000; i++) {
      const widget = `w${widgets[i]}`
      const click = i % 10 === 0
      const row = truth.get(widget) ?? { clicks: 0, impressions: 0 }
      if (click) row.clicks++
      else row.impressions++
      truth.set(widget, row)
      pipeline.xadd('events', '*', 'widget', widget, 'type', click ? 'click' : 'impression')
    }
    await pipeline.exec()
  }
  return truth
}

function worker(name: string, ...flags: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=@phonon/source', CONSUMER, server.url, 'ns', name, ...flags],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  )
  children.push(child)
  // Once it exited (whatever way), the others may claim what it left pending: no timing decides
  // that a worker is dead, so a slow one never has its messages handled twice.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      redis.sadd('dead', name).then(
        () => resolve({ code, signal }),
        () => resolve({ code, signal }),
      )
    }),
  )
  return { child, exited }
}

/** The consumer group's pending count and how many entries it read. */
async function group(): Promise<{ pending: number; read: number }> {
  const [fields = []] = (await redis.xinfo('GROUPS', 'events')) as unknown[][]
  const info = new Map(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : [])))
  return { pending: Number(info.get('pending')), read: Number(info.get('entries-read')) }
}

/** Whether every event was delivered and acknowledged. */
async function allAcked(): Promise<boolean> {
  const { pending, read } = await group()
  return pending === 0 && read === EVENTS
}

/** What the sink holds, and how many re-executions it refused. */
async function sink() {
  const raw = await redis.hgetall('sink:totals')
  const totals = new Map<string, { clicks: number; impressions: number }>()
  for (const [field, value] of Object.entries(raw)) {
    const [widget, kind] = field.split(':') as [string, string | undefined]
    const row = totals.get(widget) ?? { clicks: 0, impressions: 0 }
    if (kind === 'impressions') row.impressions = Number(value)
    else row.clicks = Number(value)
    totals.set(widget, row)
  }
  return { totals, duplicates: Number((await redis.get('sink:duplicates')) ?? 0) }
}

const sorted = (m: Map<string, unknown>) => [...m].sort(([a], [b]) => (a < b ? -1 : 1))

/** Ends `workers` gracefully (SIGTERM) and asserts each exited cleanly. */
async function stop(workers: readonly ReturnType<typeof worker>[]): Promise<void> {
  for (const w of workers) w.child.kill('SIGTERM')
  for (const w of workers) expect(await w.exited).toEqual({ code: 0, signal: null })
}

/**
 * Asserts the sink holds exactly `truth` and nothing is held, pending or claimed in the shard any
 * more (no resource hash is left).
 *
 * @returns how many re-executions the sink refused.
 */
async function expectExact(truth: Map<string, unknown>): Promise<number> {
  const { totals, duplicates } = await sink()
  expect(sorted(totals)).toEqual(sorted(truth))
  const leftovers = (await redis.keys('{ns:Widget.*')).filter((k) => k.endsWith('}'))
  expect(leftovers).toEqual([])
  return duplicates
}

describe('several worker processes on one Redis and one sink', () => {
  it('4 workers: the sink holds exactly the ground truth', async () => {
    const truth = await produce()
    const workers = ['a', 'b', 'c', 'd'].map((name) => worker(name))
    await waitFor('every event acked', allAcked, 120_000)
    await stop(workers)
    expect(await expectExact(truth)).toBe(0)
  }, 180_000)

  it('a worker SIGKILLed mid-run, right after a sink write: redelivery and epoch dedupe keep it exact', async () => {
    const truth = await produce()
    const doomed = worker('a', '--die-after-executions', '30')
    const others = ['b', 'c', 'd'].map((name) => worker(name))
    expect(await doomed.exited).toEqual({ code: null, signal: 'SIGKILL' })
    await waitFor('every event acked', allAcked, 120_000)
    // Recovery (once the dead incarnation's heartbeat is 5 s old) removes its holds, executes what
    // it was the last holder of, re-runs the claim it did not complete, then forgets it. The live
    // workers still hold their sessions: the sink is checked once they closed.
    await waitFor(
      'the dead incarnation recovered and forgotten',
      async () => !Object.values(await redis.hgetall('{ns}:names')).includes('a'),
      60_000,
    )
    await stop(others)
    expect(await expectExact(truth)).toBeGreaterThanOrEqual(1) // the re-run epoch, refused
  }, 300_000) // its waits alone may take 180 s on a loaded machine (workers compile with tsx)

  it('SIGTERM during load: what it acked is in the sink, what it did not is redelivered once', async () => {
    const truth = await produce()
    const stopping = worker('a')
    const others = ['b', 'c'].map((name) => worker(name))
    // Its handlers are installed before it says it is ready: SIGTERM is then a graceful close.
    await waitFor('worker a consuming', async () => (await redis.exists('ready:a')) === 1, 120_000)
    await waitFor(
      'a quarter of the events read',
      async () => (await group()).read > EVENTS / 4,
      60_000,
    )
    await stop([stopping])
    await waitFor('every event acked', allAcked, 120_000)
    await stop(others)
    expect(await expectExact(truth)).toBe(0)
  }, 180_000)
})
