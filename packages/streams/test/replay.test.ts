/**
 * A committed log entry applied in full — its release folded, the claim it won executed into the
 * sink and completed — and then applied again, because its worker died before removing it (the
 * orphan sweep of another worker, or `applyAll`, finds it). The shard keeps nothing of the
 * released session in the resource's hash once its claim is completed, so without
 * `rememberExecuted` the replayed release is a late release of an unknown hold: folded and
 * claimed again under a new epoch, which the sink's `(resourceId, epoch)` dedupe cannot catch.
 * Real parts: a private redis-server, RedisShard, the Redis coordinator, phononSource.
 */
import { ArgumentError } from '@phonon/core'
import { connect, MemoryShard } from '@phonon/redis-shard'
import { type RedisServer, startRedis, waitFor } from '@phonon/testkit'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type Coordinator, LateReplay, phononSource, type RoundProcessor } from '../src/index.js'
import { putEntryBack, replayRig } from './fixtures/rig.js'
import { codec, streamRecord, toUpdate, type WidgetEvent } from './fixtures/widgets.js'

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server?.stop()
})

const record = streamRecord

/**
 * Worker A's round over a fresh coordinator: w1 twice, then w2 ends w1's session (the entry holds
 * w1's release), committed as `e1` and applied in full by A (w1's claim executed and completed,
 * the entry removed). Returns the entry.
 */
async function applyRoundInFull(
  a: Pick<RoundProcessor<WidgetEvent>, 'process' | 'prepare' | 'committed'>,
  coordinator: Coordinator,
): Promise<string> {
  const token = (await coordinator.acquire(0, 'a', 60_000)) as number
  await a.process([
    record('1-0', { widget: 'w1', click: 1 }),
    record('2-0', { widget: 'w1', click: 0 }),
    record('3-0', { widget: 'w2', click: 1 }),
  ])
  const entry = (await a.prepare()) as string
  expect(entry).toContain('release')
  await coordinator.commit('a', 60_000, [{ shard: 0, token, from: undefined, sequence: '3-0' }], {
    id: 'e1',
    wal: entry,
  })
  await a.committed('e1', entry, coordinator)
  await waitFor('the entry applied', async () => (await coordinator.walEntries(0)).length === 0)
  return entry
}

test('a log entry applied in full (claims completed) and replayed before its removal counts each record once', async () => {
  const { totals, shard, source, backend, stream, coordinator } = replayRig(server.url, 'replay')

  const shardA = await shard('a')
  const a = source(shardA)
  const shardB = await shard('b')
  const b = source(shardB)
  try {
    // A applies its round in full: w1's release claims, the claim is executed and completed, the
    // entry removed…
    const entry = await applyRoundInFull(a, coordinator)
    expect(totals.get('w1')).toBe('1/1')
    expect(await shardA.count('Widget.w1')).toBe(0)
    // …but as if A died before removing it: the entry is there again.
    await putEntryBack(backend.redis, stream.definition, 'app', 'e1', entry)
    expect(await coordinator.walEntries(0)).toEqual(['e1'])
    // B replays it (applyAll executes the claims its releases win before resolving).
    await b.applyAll(coordinator)
    expect(await coordinator.walEntries(0)).toEqual([])
    expect(totals.get('w1')).toBe('1/1')
    expect(shardA.stats().shardStateLost + shardB.stats().shardStateLost).toBe(0)
    // A replay of an entry applied in full: its folds answer as applied, none refused.
    expect(b.stats().releasedHoldFolds).toBe(0)
    // A ends w2's session (closing releases it); every record counted once.
    await a.close()
    expect(Object.fromEntries(totals)).toEqual({ w1: '1/1', w2: '1/0' })
    expect(await shardB.count('Widget.w1')).toBe(0)
    expect(await shardB.count('Widget.w2')).toBe(0)
  } finally {
    await a.close().catch(() => undefined)
    await b.close()
    await backend.close()
  }
}, 60_000)

test('phononSource refuses a shard without rememberExecuted, and orphanMs not below its retryWindowMs', async () => {
  const options = {
    codec: codec(),
    max: 10,
    toUpdates: () => undefined,
    executeBatch: async () => {},
  }
  const without = new MemoryShard({ codec: codec() })
  expect(() => phononSource({ ...options, shard: without })).toThrow(ArgumentError)
  expect(() => phononSource({ ...options, shard: without })).toThrow(/rememberExecuted/)
  const shard = await connect({
    nodes: [server.url],
    codec: codec(),
    namespace: 'replay-options',
    heartbeatMs: 0,
    retryWindowMs: 10_000,
    rememberExecuted: true,
  })
  try {
    expect(() => phononSource({ ...options, shard, orphanMs: 10_000 })).toThrow(/retryWindowMs/)
  } finally {
    // A valid one is made, and closing it closes the shard.
    await phononSource({ ...options, shard, orphanMs: 5_000 }).close()
  }
})

test('a round refused after its entry was prepared releases what it ended, held nothing past it', async () => {
  const { totals, shard, source, backend, coordinator } = replayRig(server.url, 'refused')
  const shardA = await shard('a')
  const a = source(shardA)
  try {
    const token = (await coordinator.acquire(0, 'a', 60_000)) as number
    const round1 = [record('1-0', { widget: 'w1', click: 1 })]
    await a.process(round1)
    const entry1 = (await a.prepare()) as string // w1 folded; its session stays open
    await coordinator.commit('a', 60_000, [{ shard: 0, token, from: undefined, sequence: '1-0' }], {
      id: 'e1',
      wal: entry1,
    })
    await a.committed('e1', entry1, coordinator)
    // Round 2: w1 again (a fold), then w2 ends w1's session; its commit is refused (say the
    // lease was lost), so the worker discards it and will read 2-0 and 3-0 again.
    const round2 = [
      record('2-0', { widget: 'w1', click: 1 }),
      record('3-0', { widget: 'w2', click: 1 }),
    ]
    await a.process(round2)
    const entry2 = (await a.prepare()) as string
    expect(entry2).toContain('release')
    await a.discard()
    // The session the refused entry ended is released (at the step the shard has), nothing held.
    expect(await shardA.count('Widget.w1')).toBe(0)
    expect(await shardA.count('Widget.w2')).toBe(0)
    expect(totals.get('w1')).toBe('1/0') // round 1's click, executed by that release
    // Read again and committed: each click once.
    await a.process(round2)
    const again = (await a.prepare()) as string
    await coordinator.commit('a', 60_000, [{ shard: 0, token, from: '1-0', sequence: '3-0' }], {
      id: 'e2',
      wal: again,
    })
    await a.committed('e2', again, coordinator)
    await a.close()
    await waitFor('round 2 applied', async () => (await coordinator.walEntries(0)).length === 0)
    expect(totals.get('w1')).toBe('2/0')
    expect(totals.get('w2')).toBe('1/0')
  } finally {
    await shardA.close().catch(() => undefined)
    await backend.close()
  }
}, 60_000)

test('a committed fold replayed after its hold was released before it is refused notHeld, taken as applied and counted in stats().releasedHoldFolds', async () => {
  const { totals, shard, source, backend, coordinator } = replayRig(server.url, 'notheld')
  const shardA = await shard('a')
  const a = source(shardA)
  const shardB = await shard('b')
  const b = source(shardB)
  try {
    const token = (await coordinator.acquire(0, 'a', 60_000)) as number
    // Round 1: w1's hold takes its first fold, applied.
    await a.process([record('1-0', { widget: 'w1', click: 1 })])
    const entry1 = (await a.prepare()) as string
    await coordinator.commit('a', 60_000, [{ shard: 0, token, from: undefined, sequence: '1-0' }], {
      id: 'e1',
      wal: entry1,
    })
    await a.committed('e1', entry1, coordinator)
    await waitFor('entry 1 applied', async () => (await coordinator.walEntries(0)).length === 0)
    // Round 2: a second fold of the same hold, committed (the entry is in the log)…
    await a.process([record('2-0', { widget: 'w1', click: 1 })])
    const entry2 = (await a.prepare()) as string
    expect(entry2).toContain('fold')
    expect(entry2).not.toContain('release')
    await coordinator.commit('a', 60_000, [{ shard: 0, token, from: '1-0', sequence: '2-0' }], {
      id: 'e2',
      wal: entry2,
    })
    // …but A discards the round as if it had been refused: the session is released at the step
    // the shard has, before the entry's fold (the wrong turn the counter is there to show).
    await a.discard()
    expect(await shardA.count('Widget.w1')).toBe(0)
    expect(a.stats().releasedHoldFolds).toBe(0)
    // B replays the entry: its fold comes after the hold's release, refused notHeld, taken as
    // applied (the entry is removed, nothing fails) and counted.
    await b.applyAll(coordinator)
    expect(await coordinator.walEntries(0)).toEqual([])
    expect(b.stats().releasedHoldFolds).toBe(1)
    expect(b.stats().shard.shardStateLost).toBe(0)
    // What the counter points at: record 2-0's click, checkpointed, is not in the sink.
    expect(totals.get('w1')).toBe('1/0')
    await a.close()
  } finally {
    await a.close().catch(() => undefined)
    await b.close()
    await backend.close()
  }
}, 60_000)

test("a log entry older than the shard's retryWindowMs is refused (LateReplay) and stays; applied anyway it would count again", async () => {
  const WINDOW = 1_000
  const { totals, executeBatch, backend, stream, coordinator } = replayRig(server.url, 'late')
  const shard = (workerId: string) =>
    connect({
      nodes: [server.url],
      codec: codec(),
      namespace: 'late',
      workerId,
      rememberExecuted: true,
      retryWindowMs: WINDOW,
      execute: (claim) => executeBatch([claim]),
    })
  const source = (s: Awaited<ReturnType<typeof shard>>, lateReplays?: 'apply') =>
    phononSource<WidgetEvent>({
      shard: s,
      codec: codec(),
      max: 1,
      toUpdates: (r) => toUpdate(r.data),
      executeBatch,
      orphanMs: 100,
      ...(lateReplays === undefined ? {} : { lateReplays }),
    })
  expect(() => source(undefined as never, 'later' as never)).toThrow(/lateReplays/)
  const a = source(await shard('a'))
  const b = source(await shard('b'))
  const c = source(await shard('c'), 'apply')
  try {
    // A's round ends w1's session (w2 comes after it); the entry is applied in full.
    const entry = await applyRoundInFull(a, coordinator)
    expect(totals.get('w1')).toBe('1/1')
    // The entry back in the log, committed twice the window ago: B refuses to replay it.
    const at = Date.now() - 2 * WINDOW
    await putEntryBack(backend.redis, stream.definition, 'app', 'e1', entry, at)
    const refused = await b.applyAll(coordinator).catch((error: unknown) => error)
    expect(refused).toBeInstanceOf(LateReplay)
    expect(refused).toMatchObject({ id: 'e1', retryWindowMs: WINDOW })
    expect((refused as LateReplay).ageMs).toBeGreaterThan(WINDOW)
    expect(await coordinator.walEntries(0)).toEqual(['e1'])
    expect(totals.get('w1')).toBe('1/1')
    // Why: once the shard forgot w1's release (its record expires after the window), the same
    // entry applied anyway (lateReplays: 'apply') folds the release again and counts it twice.
    await waitFor(
      "w1's release record expired",
      async () => (await backend.redis.exists('{late:Widget.w1}:r')) === 0,
    )
    await c.applyAll(coordinator)
    expect(await coordinator.walEntries(0)).toEqual([])
    expect(totals.get('w1')).toBe('2/2')
    expect(c.stats().shard.shardStateLost).toBe(1)
  } finally {
    await a.close()
    await b.close()
    await c.close()
    await backend.close()
  }
}, 60_000)
