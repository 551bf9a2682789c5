import { type RedisServer, startRedis, waitFor } from '@phonon/testkit'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { putEntryBack, replayRig } from './fixtures/rig.js'
import { streamRecord } from './fixtures/widgets.js'

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server?.stop()
})

const record = streamRecord

test('a log entry replayed after its worker was recovered counts each record once', async () => {
  const { totals, shard, source, backend, stream, coordinator } = replayRig(server.url, 'walrec')

  // Worker A, round 1: two records of w1; the entry holds w1's fold (its session stays open).
  const shardA = await shard('a')
  const a = source(shardA)
  const token = (await coordinator.acquire(0, 'a', 60_000)) as number
  await a.process([
    record('1-0', { widget: 'w1', click: 1 }),
    record('2-0', { widget: 'w1', click: 0 }),
  ])
  const entry1 = (await a.prepare()) as string
  expect(entry1).toContain('fold')
  await coordinator.commit('a', 60_000, [{ shard: 0, token, from: undefined, sequence: '2-0' }], {
    id: 'e1',
    wal: entry1,
  })
  // A applies it (the fold reaches Redis)…
  await a.committed('e1', entry1, coordinator)
  await waitFor('entry 1 applied', async () => (await coordinator.walEntries(0)).length === 0)
  // …and is SIGKILLed before removing it: the entry is still there.
  await putEntryBack(backend.redis, stream.definition, 'app', 'e1', entry1)
  // Round 2 (committed, never applied): w2 ends w1's session, so the entry holds its release.
  await a.process([record('3-0', { widget: 'w2', click: 0 })])
  const entry2 = (await a.prepare()) as string
  expect(entry2).toContain('release')
  await coordinator.commit('a', 60_000, [{ shard: 0, token, from: '2-0', sequence: '3-0' }], {
    id: 'e2',
    wal: entry2,
  })

  // B recovers A's incarnation first (evicts its holds, executes w1's folded 1/1)…
  const shardB = await shard('b')
  const b = source(shardB)
  expect(await shardB.recovery.recover(shardA.incarnation)).toBe(true)
  // …then replays A's entries (applyAll executes the claims its releases win before resolving).
  try {
    await b.applyAll(coordinator)
    expect(totals.get('w1')).toBe('1/1')
    expect(await shardB.count('Widget.w1')).toBe(0)
    expect(await coordinator.walEntries(0)).toEqual([])
  } finally {
    await b.close()
    await shardA.close().catch(() => undefined)
    await backend.close()
  }
}, 60_000)
