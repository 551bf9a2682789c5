import { ArgumentError } from '@phonon/core'
import { startRedis, waitFor } from '@phonon/testkit'
import { describe, expect, test } from 'vitest'
import {
  defineStreams,
  getStream,
  handlerProcessor,
  LeaseLost,
  RedisBackend,
  type StreamRecord,
  Worker,
} from '../src/index.js'
import { backends } from './backends.js'

const make = backends()
let n = 0

for (const name of ['memory', 'redis'] as const) {
  describe(`leases and checkpoints on ${name}`, () => {
    test('a commit from a worker that lost its lease is refused; checkpoints only move forward', async () => {
      const backend = make[name]()
      const config = defineStreams({ s: { name: `lease-${++n}`, partitionKey: 'k', shards: 2 } })
      const stream = getStream('s', config, backend)
      const c = backend.coordinator(stream.definition, 'app')
      const a = await c.acquire(0, 'A', 50)
      expect(a).toBeTypeOf('number')
      expect(await c.acquire(0, 'B', 50)).toBeUndefined() // held, not expired
      await c.commit(
        'A',
        50,
        [{ shard: 0, token: a as number, from: undefined, sequence: '5-0' }],
        {
          id: 'r1',
        },
      )
      await expect(
        c.commit('A', 50, [{ shard: 0, token: a as number, from: '5-0', sequence: '4-9' }], {
          id: 'r2',
        }),
      ).rejects.toThrow(ArgumentError)
      // A is paused past its lease: B takes the shard over with a higher token.
      await waitFor(
        'the lease to expire',
        async () => (await c.acquire(0, 'B', 10_000)) !== undefined,
      )
      const b = (await c.leases())[0]
      expect(b?.owner).toBe('B')
      expect(b?.token).toBeGreaterThan(a as number)
      // A's late checkpoint (and its log entry) is refused, nothing written.
      await expect(
        c.commit('A', 50, [{ shard: 0, token: a as number, from: '5-0', sequence: '9-0' }], {
          id: 'x',
          wal: 'y',
        }),
      ).rejects.toThrow(LeaseLost)
      expect(await c.checkpoint(0)).toBe('5-0')
      expect(await c.walEntries(0)).toEqual([])
      expect(await c.renew([{ shard: 0, token: a as number }], 'A', 50)).toEqual([false])
      await backend.close()
    })

    test('rebalance 1 → 3 → 1 workers: each shard owned by one at a time, nothing skipped', async () => {
      const backend = make[name]()
      const config = defineStreams({
        s: { name: `rebalance-${++n}`, partitionKey: 'k', shards: 6 },
      })
      const stream = getStream<{ k: string; i: number }>('s', config, backend)
      const seen = new Map<number, number>()
      const start = (id: string) => {
        const worker = new Worker<{ k: string; i: number }>({
          stream,
          application: 'app',
          name: id,
          leaseMs: 600,
          roundMs: 50,
          idleMs: 10,
          processor: handlerProcessor(
            (records: readonly StreamRecord<{ k: string; i: number }>[]) => {
              for (const r of records) seen.set(r.data.i, (seen.get(r.data.i) ?? 0) + 1)
            },
          ),
        })
        return { worker, run: worker.run() }
      }
      let i = 0
      const put = (count: number) =>
        stream.putMany(Array.from({ length: count }, () => ({ k: `k${i}`, i: i++ })))
      const ownedBy = (ws: Array<ReturnType<typeof start>>) => ws.flatMap((w) => w.worker.owned())
      const first = start('one')
      await put(300)
      await waitFor('one worker to own all shards', async () => first.worker.owned().length === 6)
      const more = [start('two'), start('three')]
      await put(300)
      const all = [first, ...more]
      await waitFor('three workers to own two shards each', async () =>
        all.every((w) => w.worker.owned().length === 2),
      )
      const owned = ownedBy(all)
      expect(new Set(owned).size).toBe(owned.length) // never one shard in two workers
      await put(300)
      for (const w of more) w.worker.stop()
      await Promise.all(more.map((w) => w.run))
      await put(300)
      await waitFor(
        'one worker to own all shards again, and everything read',
        async () => first.worker.owned().length === 6 && seen.size === i,
      )
      first.worker.stop()
      await first.run
      expect(seen.size).toBe(1_200) // nothing skipped (a hand-over may re-read: at least once)
      await backend.close()
    })
  })
}

test('Redis restarted without persistence: fencing tokens keep increasing, a lease from before is refused', async () => {
  await using server = await startRedis()
  const backend = new RedisBackend({ redis: server.url })
  backend.redis.on('error', () => {}) // while the server restarts
  const config = defineStreams({ s: { name: 'wiped', partitionKey: 'k', shards: 1 } })
  const c = backend.coordinator(getStream('s', config, backend).definition, 'app')
  const before = (await c.acquire(0, 'A', 60_000)) as number
  expect(before).toBeTypeOf('number')
  // Everything is gone: the lease, its token counter, the checkpoints.
  await server.restart()
  expect(await c.leases()).toEqual([])
  // A takes the shard again: a new lease, whose token must exceed the old one, else A's round
  // read under the lease from before the loss (from no checkpoint, as none is stored now: the
  // compare-and-set on the checkpoint cannot tell) would commit under the new one.
  const after = (await c.acquire(0, 'A', 60_000)) as number
  expect(after).toBeGreaterThan(before)
  await expect(
    c.commit('A', 60_000, [{ shard: 0, token: before, from: undefined, sequence: '9-0' }], {
      id: 'old',
    }),
  ).rejects.toThrow(LeaseLost)
  expect(await c.checkpoint(0)).toBeUndefined()
  await c.commit('A', 60_000, [{ shard: 0, token: after, from: undefined, sequence: '9-0' }], {
    id: 'new',
  })
  expect(await c.checkpoint(0)).toBe('9-0')
  await backend.close()
})
