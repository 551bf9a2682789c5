/**
 * The commit of a round is exclusive and idempotent, on the Coordinator itself: a commit sent
 * again after its reply was lost is applied once (no second log entry, even once the first was
 * applied and removed, even once the lease moved on); a second commit of the same range from
 * the same worker and token is refused; a late commit from a worker that lost its lease is
 * refused. The lost reply is a real one: a fault proxy between ioredis and redis-server drops
 * the reply after Redis ran the script.
 */
import { type FaultProxy, waitFor } from '@phonon/testkit'
import { describe, expect, test } from 'vitest'
import {
  type Backend,
  CheckpointConflict,
  type Coordinator,
  defineStreams,
  getStream,
  LeaseLost,
  MemoryBackend,
  RedisBackend,
  StreamError,
  Worker,
} from '../src/index.js'
import { proxiedRedis } from './fixtures/proxied.js'

const redis = proxiedRedis()
const { closing } = redis

let n = 0
/** A coordinator of a fresh 1-shard stream on `backend`. */
function coordinatorOn(backend: Backend): Coordinator {
  closing.push(backend)
  const config = defineStreams({ s: { name: `commit-${++n}`, partitionKey: 'k', shards: 1 } })
  return backend.coordinator(getStream('s', config, backend).definition, 'app')
}

const makers = {
  memory: () => new MemoryBackend(),
  redis: () => new RedisBackend({ redis: redis.server.url }),
}

/** Sends `send` again while the backend cannot be reached (as a Worker does), for up to 10 s. */
async function untilAnswered<T>(send: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      return await send()
    } catch (error) {
      if (!(error instanceof StreamError) || Date.now() > deadline) throw error
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

for (const name of ['memory', 'redis'] as const) {
  describe(`commits on ${name}`, () => {
    test('the same commit sent again is applied once, also after its entry was applied and removed', async () => {
      const c = coordinatorOn(makers[name]())
      const token = (await c.acquire(0, 'A', 60_000)) as number
      const round = () =>
        c.commit('A', 60_000, [{ shard: 0, token, from: undefined, sequence: '5-0' }], {
          id: 'r1',
          wal: 'e1',
        })
      const first = await round()
      expect(await c.walEntries(0)).toEqual(['r1'])
      // A sweep applied the entry and removed it; then the first attempt's retry arrives.
      await c.removeWal('r1')
      const again = await round()
      expect(await c.walEntries(0)).toEqual([]) // not a second entry, to be applied again
      expect(await c.checkpoint(0)).toBe('5-0')
      expect([first, again]).toEqual(['committed', 'already-committed'])
    })

    test('two commits of the same range under the same token: the second is refused', async () => {
      const c = coordinatorOn(makers[name]())
      const token = (await c.acquire(0, 'A', 60_000)) as number
      await c.commit('A', 60_000, [{ shard: 0, token, from: undefined, sequence: '5-0' }], {
        id: 'r1',
        wal: 'e1',
      })
      // The same records (read from no checkpoint up to 5-0) as another round, another entry.
      await expect(
        c.commit('A', 60_000, [{ shard: 0, token, from: undefined, sequence: '5-0' }], {
          id: 'r2',
          wal: 'e2',
        }),
      ).rejects.toThrow(CheckpointConflict)
      expect(await c.walEntries(0)).toEqual(['r1']) // nothing written
      expect(await c.checkpoint(0)).toBe('5-0')
      // Nor does an empty round that read from a checkpoint other than the stored one pass…
      await expect(
        c.commit('A', 60_000, [{ shard: 0, token, from: '4-0' }], { id: 'r3' }),
      ).rejects.toThrow(CheckpointConflict)
      // …while a round from the stored checkpoint goes through.
      await c.commit('A', 60_000, [{ shard: 0, token, from: '5-0', sequence: '6-0' }], { id: 'r4' })
      expect(await c.checkpoint(0)).toBe('6-0')
    })

    test('a late commit from a worker that lost its lease is refused, its retry of a committed round is not', async () => {
      const c = coordinatorOn(makers[name]())
      const a = (await c.acquire(0, 'A', 50)) as number
      const first = () =>
        c.commit('A', 50, [{ shard: 0, token: a, from: undefined, sequence: '5-0' }], {
          id: 'a1',
          wal: 'x',
        })
      await first()
      // A is paused past its lease: B takes the shard over (a higher token) and commits.
      await waitFor(
        'the lease to expire',
        async () => (await c.acquire(0, 'B', 60_000)) !== undefined,
      )
      const b = (await c.leases())[0]?.token as number
      expect(b).toBeGreaterThan(a)
      await c.commit('B', 60_000, [{ shard: 0, token: b, from: '5-0', sequence: '7-0' }], {
        id: 'b1',
        wal: 'y',
      })
      // A's next round is refused, nothing written…
      await expect(
        c.commit('A', 50, [{ shard: 0, token: a, from: '5-0', sequence: '9-0' }], {
          id: 'a2',
          wal: 'z',
        }),
      ).rejects.toThrow(LeaseLost)
      expect(await c.checkpoint(0)).toBe('7-0')
      expect((await c.walEntries(0)).sort()).toEqual(['a1', 'b1'])
      // …but its first round, sent again (its reply lost), is known committed, and not again.
      await c.removeWal('a1')
      const again = await first() // refused (LeaseLost), A would drop a committed round
      expect(await c.walEntries(0)).toEqual(['b1'])
      expect(await c.checkpoint(0)).toBe('7-0')
      expect(again).toBe('already-committed')
    })
  })
}

/** A backend through `proxy` whose client neither resends nor retries a command. */
function backendThrough(proxy: FaultProxy): RedisBackend {
  const backend = new RedisBackend({
    redis: proxy.url,
    redisOptions: {
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 20,
    },
  })
  backend.redis.on('error', () => {})
  return backend
}

describe('commits through a fault proxy (redis)', () => {
  /** A coordinator whose client neither resends nor retries: a lost reply is a StreamError. */
  async function throughProxy(): Promise<{ c: Coordinator; proxy: FaultProxy }> {
    const proxy = await redis.startProxy()
    return { c: coordinatorOn(backendThrough(proxy)), proxy }
  }
  /** The commit script (the only one with the checkpoints key). */
  const isCommit = (command: { name: string; args: readonly string[] }) =>
    command.name.startsWith('EVAL') && command.args.some((a) => a.endsWith(':checkpoints'))

  test('a commit whose reply is dropped, sent again, is applied once', async () => {
    const { c, proxy } = await throughProxy()
    const token = (await c.acquire(0, 'A', 60_000)) as number
    // The script is loaded first, so the dropped reply is the commit's, not a NOSCRIPT.
    await c.commit('A', 60_000, [{ shard: 0, token, from: undefined, sequence: '1-0' }], {
      id: 'r0',
    })
    const dropped = proxy.failNext('drop-reply', isCommit)
    const round = () =>
      c.commit('A', 60_000, [{ shard: 0, token, from: '1-0', sequence: '5-0' }], {
        id: 'r1',
        wal: 'e1',
      })
    await expect(round()).rejects.toThrow(StreamError)
    await dropped
    expect(proxy.stats().droppedReplies).toBe(1)
    // The first attempt ran: its entry is there. A sweep applies and removes it meanwhile.
    expect(await untilAnswered(() => c.walEntries(0))).toEqual(['r1'])
    await c.removeWal('r1')
    const again = await untilAnswered(round)
    expect(await c.walEntries(0)).toEqual([]) // not a second entry, to be applied again
    expect(await c.checkpoint(0)).toBe('5-0')
    expect(again).toBe('already-committed')
  })

  test('a commit whose reply is dropped while its lease moves on is still known committed', async () => {
    const { c, proxy } = await throughProxy()
    const a = (await c.acquire(0, 'A', 50)) as number
    await c.commit('A', 50, [{ shard: 0, token: a, from: undefined, sequence: '1-0' }], {
      id: 'r0',
    })
    const dropped = proxy.failNext('drop-reply', isCommit)
    const round = () =>
      c.commit('A', 50, [{ shard: 0, token: a, from: '1-0', sequence: '5-0' }], {
        id: 'a1',
        wal: 'x',
      })
    await expect(round()).rejects.toThrow(StreamError)
    await dropped
    await waitFor(
      'the lease to expire',
      async () => (await c.acquire(0, 'B', 60_000)) !== undefined,
    )
    // Refusing it (LeaseLost) would make A drop a round whose entry is committed.
    const again = await untilAnswered(round)
    expect(await c.walEntries(0)).toEqual(['a1'])
    expect(again).toBe('already-committed')
  })
})

describe('a worker through a fault proxy (redis)', () => {
  test('a refused round whose checkpoint read fails halfway reads nothing until every shard is back at its checkpoint', async () => {
    const proxy = await redis.startProxy()
    const config = defineStreams({ s: { name: `refused-${++n}`, partitionKey: 'k', shards: 2 } })
    const direct = new RedisBackend({ redis: redis.server.url })
    closing.push(direct)
    const producer = getStream<{ k: string; i: number }>('s', config, direct)
    const put = await producer.putMany(Array.from({ length: 2_000 }, (_, i) => ({ k: `k${i}`, i })))
    const backend = backendThrough(proxy)
    closing.push(backend)
    // Counts the records of committed rounds only: a refused round's records must be read again.
    const committed = new Map<number, number>()
    let round: number[] = []
    let seen = 0
    const lastRead = new Map<number, string>()
    const worker = new Worker<{ k: string; i: number }>({
      stream: getStream<{ k: string; i: number }>('s', config, backend),
      application: 'app',
      name: 'w',
      batch: 10,
      roundMs: 60_000, // no commit before the faults
      idleMs: 10,
      processor: {
        process: async (records) => {
          for (const r of records) {
            round.push(r.data.i)
            lastRead.set(r.shard, r.sequence)
          }
          seen += records.length
        },
        prepare: async () => undefined,
        committed: async () => {
          for (const i of round) committed.set(i, (committed.get(i) ?? 0) + 1)
          round = []
        },
        discard: async () => {
          round = []
        },
        close: async () => {},
      },
    })
    const running = worker.run()
    await waitFor('both shards read from', async () => worker.owned().length === 2 && seen >= 40)
    // A read fails (the round is refused), then the checkpoint read of shard 1 while going back.
    const readLost = proxy.failNext('drop-command', (c) => c.name === 'XRANGE')
    const checkpointLost = proxy.failNext(
      'drop-command',
      (c) => c.name === 'HGET' && c.args[0]?.endsWith(':checkpoints') === true && c.args[1] === '1',
    )
    await readLost
    await checkpointLost
    const last = (i: number) => put.filter((p) => p.shard === i).at(-1)?.sequence
    const c = direct.coordinator(producer.definition, 'app')
    // The round then commits (roundMs is long: stop() commits it).
    await waitFor('both shards read to their last record', async () =>
      [0, 1].every((i) => lastRead.get(i) === last(i)),
    )
    worker.stop()
    await running
    expect([await c.checkpoint(0), await c.checkpoint(1)]).toEqual([last(0), last(1)])
    const missing = put.map((_, i) => i).filter((i) => committed.get(i) !== 1)
    expect(missing.slice(0, 5)).toEqual([])
    expect(committed.size).toBe(2_000)
  }, 60_000)
})
