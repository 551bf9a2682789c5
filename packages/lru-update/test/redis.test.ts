import { ShardError } from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createAggregator } from '../src/index.js'
import { gated, RecordingSink, redisFixture, Widget } from './fixtures.js'
import { runProgram, steps, workerOptions } from './program.js'

const redis = redisFixture()
let namespaces = 0
const namespace = () => `t${++namespaces}`

describe('Aggregator on a real redis-server', () => {
  it('executes exactly what was offered, under any program of several workers', async () => {
    await fc.assert(
      fc.asyncProperty(workerOptions, steps, async (options, program) => {
        const ns = namespace()
        const shards = await Promise.all(options.map(() => redis.shard(ns)))
        await runProgram(shards, options, program)
      }),
      { numRuns: 30 },
    )
  }, 120_000)

  it("never removes a newer session's hold while releasing the older one (invariant 5)", async () => {
    const ns = namespace()
    const sink = new RecordingSink()
    const slow = gated(await redis.shard(ns), 'releaseMany')
    const a = createAggregator({ shard: slow.shard, max: 10, execute: sink.execute })
    const b = createAggregator({ shard: await redis.shard(ns), max: 10, execute: sink.execute })
    await b.offer(Widget.create({ id: 'k', clicks: 100 }))
    await b.drain()
    await a.offer(Widget.create({ id: 'k', clicks: 1 }))
    await a.drain()
    a.expire('Widget.k') // session 1 of A: its release is held back
    await a.offer(Widget.create({ id: 'k', clicks: 2 })) // session 2 of A starts meanwhile
    const probe = await redis.shard(ns)
    expect(await probe.count('Widget.k')).toBe(2) // A's session 1 and B
    slow.open()
    await a.drain()
    expect(await probe.count('Widget.k')).toBe(2) // A's session 2 and B: no hold of it removed
    await b.close()
    expect(sink.executions).toBe(0) // A's session 2 still holds
    await a.close()
    expect(sink.executions).toBe(1)
    expect(sink.totals.get('k')).toEqual({ clicks: 103, impressions: 0 })
  })

  it('keeps what Redis refused as failures, and retrying them loses nothing', async () => {
    const ns = namespace()
    const sink = new RecordingSink()
    const failed: string[] = []
    const aggregator = createAggregator({
      shard: await redis.shard(ns),
      max: 100,
      retry: { attempts: 2, baseDelayMs: 1 },
      execute: sink.execute,
      onFailed: (failure) => failed.push(`${failure.kind} ${failure.resourceId}`),
    })
    for (let i = 0; i < 20; i++) await aggregator.offer(Widget.create({ id: i % 10, clicks: i }))
    await aggregator.drain()
    await redis.server.command('CONFIG', 'SET', 'maxmemory', '1')
    try {
      await aggregator.expireAll()
    } finally {
      await redis.server.command('CONFIG', 'SET', 'maxmemory', '0')
    }
    const failures = aggregator.failures()
    expect(failures).toHaveLength(10)
    expect(failed.sort()).toEqual(failures.map((f) => `release ${f.resourceId}`).sort())
    for (const failure of failures) expect(failure.error).toBeInstanceOf(ShardError)
    expect(sink.executions).toBe(0)
    await Promise.all([...failures].map((failure) => failure.retry()))
    expect(aggregator.failures()).toEqual([]) // each left the list once retried
    expect(sink.executions).toBe(10)
    for (let k = 0; k < 10; k++) {
      expect(sink.totals.get(String(k))).toEqual({ clicks: k + k + 10, impressions: 0 })
    }
    await aggregator.close()
  })

  it('makes a fold Redis refused a failure whose retry folds it once: nothing lost, nothing doubled', async () => {
    const ns = namespace()
    const sink = new RecordingSink()
    const aggregator = createAggregator({
      shard: await redis.shard(ns),
      max: 100,
      retry: { attempts: 1 },
      execute: sink.execute,
    })
    await aggregator.offer(Widget.create({ id: 'f', clicks: 1 }))
    await aggregator.drain()
    await redis.server.command('CONFIG', 'SET', 'maxmemory', '1')
    try {
      await aggregator.flush()
      await aggregator.offer(Widget.create({ id: 'f', clicks: 2 }))
    } finally {
      await redis.server.command('CONFIG', 'SET', 'maxmemory', '0')
    }
    // A refused call cannot be told from one whose reply was lost: the fold is in doubt, its
    // hold given up to the failure; the session goes on under a new hold.
    expect(aggregator.stats()).toMatchObject({ folds: 0, entries: 1 })
    expect(aggregator.stats().retries).toBeGreaterThan(0)
    const [failure, ...others] = aggregator.failures()
    expect([failure?.kind, others]).toEqual(['fold', []])
    await failure?.retry()
    await failure?.retry() // twice: still folded once
    await aggregator.close()
    expect(aggregator.failures()).toEqual([])
    expect(sink.totals.get('f')).toEqual({ clicks: 3, impressions: 0 })
  })
})
