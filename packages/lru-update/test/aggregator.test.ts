import {
  ArgumentError,
  CacheError,
  Codec,
  ConflictFreeUpdate,
  defineModel,
  id,
  sum,
} from '@phonon/core'
import { MemoryShard } from '@phonon/redis-shard'
import { waitFor } from '@phonon/testkit'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type AggregatorOptions, createAggregator } from '../src/index.js'
import { codec, memoryWorkers, RecordingSink, Widget } from './fixtures.js'
import { runProgram, steps, workerOptions } from './program.js'

/** An aggregator on its own MemoryShard, with a recording sink and a clock the test moves. */
function setup(options: Partial<AggregatorOptions> = {}) {
  const clock = { now: 0 }
  const sink = new RecordingSink()
  const shard = new MemoryShard({ codec: codec() })
  const aggregator = createAggregator({
    shard,
    max: 10,
    now: () => clock.now,
    execute: sink.execute,
    ...options,
  })
  return { aggregator, sink, clock, shard }
}

const widget = (key: number | string, clicks = 1) =>
  Widget.create({ id: key, clicks, impressions: 1 })

describe('Aggregator on MemoryShard', () => {
  it('executes exactly what was offered, under any program of several workers', async () => {
    await fc.assert(
      fc.asyncProperty(workerOptions, steps, async (options, program) => {
        const { shard } = memoryWorkers()
        await runProgram(
          options.map(() => shard()),
          options,
          program,
        )
      }),
      { numRuns: 150 },
    )
  }, 120_000)

  it("runs the seed's loop: set every update, then expireAll", async () => {
    // for update in updates: cache.set(id, Update(...)); cache.expireAll()
    const { aggregator, sink } = setup({ max: 3 })
    const updates = Array.from({ length: 40 }, (_, i) => ({ id: `u${i % 7}`, clicks: i }))
    for (const { id: key, clicks } of updates) await aggregator.offer(widget(key, clicks))
    await aggregator.expireAll()
    expect(aggregator.size).toBe(0)
    for (let k = 0; k < 7; k++) {
      const expected = updates.filter((u) => u.id === `u${k}`)
      expect(sink.totals.get(`u${k}`)).toEqual({
        clicks: expected.reduce((n, u) => n + u.clicks, 0),
        impressions: expected.length,
      })
    }
    await aggregator.close()
  })

  it('merges offers for a held resource without touching the shard', async () => {
    const { aggregator, shard } = setup()
    await aggregator.offer(widget('a'))
    await aggregator.drain()
    const calls = shard.stats().roundTrips
    for (let i = 0; i < 100; i++) await aggregator.offer(widget('a'))
    await aggregator.drain()
    expect(shard.stats().roundTrips).toBe(calls)
    expect(aggregator.stats()).toMatchObject({ offers: 101, merges: 100, inserts: 1 })
    await aggregator.close()
  })

  it('ends sessions for the reasons it says, in order', async () => {
    const { aggregator, clock, sink } = setup({ max: 2, idleMs: 100, maxAgeMs: 1000 })
    await aggregator.offer(widget('a'))
    await aggregator.offer(widget('b'))
    await aggregator.offer(widget('c')) // capacity: a leaves
    expect(aggregator.stats().ended).toMatchObject({ capacity: 1 })
    clock.now = 60
    await aggregator.offer(widget('c'))
    clock.now = 120
    await aggregator.purge() // b idle since 0; c offered at 60
    expect(aggregator.stats().ended).toMatchObject({ capacity: 1, idle: 1 })
    for (let t = 150; t <= 1000; t += 50) {
      clock.now = t
      await aggregator.offer(widget('c')) // busy, but max age ends it at 1000
    }
    expect(aggregator.stats().ended).toMatchObject({ capacity: 1, idle: 1, maxAge: 1 })
    expect(aggregator.expire('Widget.c')).toBe(true)
    expect(aggregator.expire('Widget.zzz')).toBe(false)
    await aggregator.offer(widget('d'))
    const forced = widget('d', 0)
    await aggregator.offer(forced)
    const held = aggregator.stats()
    expect(held.ended).toMatchObject({ expire: 1 })
    // forceExpiry on the held update is seen by the sweeper.
    aggregator as unknown as { _: never } // (no private access: set it on a merged update)
    await aggregator.close()
    expect(aggregator.stats().ended).toEqual({
      capacity: 1,
      idle: 1,
      maxAge: 1,
      forced: 0,
      expire: 1,
      expireAll: 0,
      close: 1,
    })
    expect(sink.executions).toBe(5)
  })

  it("ends a session past the update's hard session and starts another", async () => {
    const { aggregator, clock, sink } = setup()
    const first = Widget.create({ id: 'h', clicks: 1 }, { hardSessionMs: 100, now: 0 })
    await aggregator.offer(first)
    await aggregator.drain() // held: its release is then the last, and executes
    clock.now = 99
    await aggregator.offer(widget('h', 2))
    clock.now = 100
    await aggregator.offer(widget('h', 4))
    await aggregator.drain()
    expect(aggregator.stats().ended.maxAge).toBe(1)
    expect(sink.totals.get('h')).toEqual({ clicks: 3, impressions: 1 })
    await aggregator.close()
    expect(sink.totals.get('h')).toEqual({ clicks: 7, impressions: 2 })
  })

  it('sees forceExpiry on a held update at the next sweep', async () => {
    const { aggregator, sink } = setup()
    const update = widget('f', 5)
    await aggregator.offer(update)
    update.forceExpiry = true
    await aggregator.purge()
    expect(aggregator.stats().ended.forced).toBe(1)
    expect(sink.totals.get('f')).toEqual({ clicks: 5, impressions: 1 })
    await aggregator.close()
  })

  it('folds entries dirty past flushIntervalMs, keeping them held and clean', async () => {
    const { aggregator, clock, shard } = setup({ flushIntervalMs: 100 })
    await aggregator.offer(widget('x', 3))
    clock.now = 50
    await aggregator.purge()
    expect(aggregator.stats().folds).toBe(0)
    clock.now = 100
    await aggregator.purge()
    expect(aggregator.stats()).toMatchObject({ folds: 1, entries: 1, releases: 0 })
    expect(await shard.count('Widget.x')).toBe(1)
    await aggregator.purge() // clean now: nothing more to fold
    expect(aggregator.stats().folds).toBe(1)
    await aggregator.close()
  })

  it('a zombie whose holds recovery evicted executes what its later folds leave idle, once', async () => {
    const { store, shard: worker } = memoryWorkers()
    const zombie = worker()
    const clock = { now: 0 }
    const sink = new RecordingSink()
    const aggregator = createAggregator({
      shard: zombie,
      max: 10,
      flushIntervalMs: 100,
      now: () => clock.now,
      execute: sink.execute,
    })
    await aggregator.offer(widget('x', 3))
    clock.now = 100
    await aggregator.purge() // folded: 3 pending under the zombie's hold
    // Another worker finds it dead: evicts its hold and executes the 3.
    const recoverer = new MemoryShard({ codec: codec(), store, execute: sink.execute })
    expect(await recoverer.recover(zombie.incarnation)).toBe(true)
    expect(sink.totals.get('x')?.clicks).toBe(3)
    // The zombie goes on: its next fold leaves the resource idle, so the fold claims it.
    await aggregator.offer(widget('x', 4))
    clock.now = 200
    await aggregator.purge()
    expect(sink.totals.get('x')?.clicks).toBe(7)
    expect(await zombie.count('Widget.x')).toBe(0) // the hold was not taken again
    await aggregator.offer(widget('x', 5))
    await aggregator.close() // a late release
    expect(sink.totals.get('x')?.clicks).toBe(12)
    expect(sink.duplicates).toBe(0)
    expect(await recoverer.timesModified('Widget.x')).toBe(0)
  })

  it('starts folding at once for initCache updates', async () => {
    const { aggregator, shard } = setup()
    await aggregator.offer(Widget.create({ id: 'i', clicks: 2 }, { initCache: true }))
    await aggregator.drain()
    expect(aggregator.stats().folds).toBe(1)
    expect(await shard.timesModified('Widget.i')).toBe(1)
    await aggregator.close()
  })

  it('bounds total size with maxSize and sizeOf', async () => {
    const { aggregator } = setup({
      max: 100,
      maxSize: 10,
      sizeOf: (u) => 1 + (u.doc as { clicks: number }).clicks,
    })
    for (let i = 0; i < 50; i++) {
      await aggregator.offer(widget(i % 9, i % 4))
      expect(aggregator.size).toBeLessThanOrEqual(10)
    }
    expect(() => aggregator.offer(widget('huge', 20))).toThrow(ArgumentError)
    await aggregator.close()
  })

  it('rejects bad input with typed errors and changes nothing', async () => {
    const { aggregator, sink } = setup()
    await aggregator.offer(widget('a', 2))
    expect(() => aggregator.offer({ resourceId: 'Widget.a' } as never)).toThrow(ArgumentError)
    expect(() => aggregator.offer(null as never)).toThrow(ArgumentError)
    class Other extends ConflictFreeUpdate {
      execute() {}
    }
    expect(() =>
      aggregator.offer(new Other({ id: 'a', collection: 'Widget', doc: { clicks: 1 } })),
    ).toThrow(ArgumentError)
    const Gadget = defineModel('Gadget', { id: id(), clicks: sum() }, { collection: 'Widget' })
    expect(() => aggregator.offer(Gadget.create({ id: 'a', clicks: 1 }))).toThrow(ArgumentError)
    const overflow = Widget.create({ id: 'a', clicks: Number.MAX_SAFE_INTEGER })
    expect(() => aggregator.offer(overflow)).toThrow(ArgumentError)
    await aggregator.close()
    expect(sink.totals.get('a')).toEqual({ clicks: 2, impressions: 1 })
    expect(() => aggregator.offer(widget('a'))).toThrow(CacheError)
  })

  it('validates its options, naming the option', () => {
    const shard = new MemoryShard({ codec: codec() })
    const bad: Array<[Partial<AggregatorOptions>, RegExp]> = [
      [{ max: 0 }, /max option/],
      [{ max: 1.5 }, /max option/],
      [{ max: 1, idleMs: -1 }, /idleMs option/],
      [{ max: 1, flushIntervalMs: Number.NaN }, /flushIntervalMs option/],
      [{ max: 1, maxSize: 10 }, /maxSize and sizeOf/],
      [{ max: 1, flushConcurrency: 0 }, /flushConcurrency option/],
      [{ max: 1, retry: { attempts: 0 } }, /retry.attempts option/],
      [{ max: 1, execute: 3 as never }, /execute option/],
    ]
    for (const [options, message] of bad) {
      expect(() => createAggregator({ shard, ...options } as AggregatorOptions)).toThrow(message)
      expect(() => createAggregator({ shard, ...options } as AggregatorOptions)).toThrow(
        ArgumentError,
      )
    }
    expect(() => createAggregator({ shard: {} as never, max: 1 })).toThrow(/shard option/)
  })

  it('hands the claims of one flush to executeBatch at once', async () => {
    const batches: number[] = []
    const { aggregator } = setup({
      max: 100,
      executeBatch: (claims) => {
        batches.push(claims.length)
      },
    })
    for (let i = 0; i < 50; i++) aggregator.offer(widget(i))
    await aggregator.close()
    expect(batches.reduce((a, b) => a + b, 0)).toBe(50)
    expect(Math.max(...batches)).toBeGreaterThan(1)
  })

  it('executeBatch reporting per-claim failures: the others complete, only the failed retry', async () => {
    // 'bad' fails its first two calls, 'never' fails for bad input (not retried); every other
    // claim is executed by the first call it is in.
    const calls: string[][] = []
    const executed: string[] = []
    let badTries = 0
    const { aggregator } = setup({
      max: 100,
      retry: { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 },
      executeBatch: async (claims) => {
        calls.push(claims.map((c) => c.resourceId))
        const failed: Array<{ index: number; error: unknown }> = []
        claims.forEach((claim, index) => {
          if (claim.resourceId === 'Widget.bad' && ++badTries <= 2) {
            failed.push({ index, error: new Error('refused for now') })
          } else if (claim.resourceId === 'Widget.never') {
            failed.push({ index, error: new ArgumentError('refused for good') })
          } else executed.push(claim.resourceId)
        })
        return { applied: claims.length - failed.length, failed }
      },
    })
    for (const key of ['a', 'bad', 'b', 'never', 'c']) aggregator.offer(widget(key))
    await aggregator.close()
    expect(executed.sort()).toEqual(['Widget.a', 'Widget.b', 'Widget.bad', 'Widget.c'])
    // Each claim was passed once, but the one failing for a while: three times (alone after its
    // first call), and the one failing for bad input: once, not retried.
    const times = new Map<string, number>()
    for (const id of calls.flat()) times.set(id, (times.get(id) ?? 0) + 1)
    expect(Object.fromEntries(times)).toEqual({
      'Widget.a': 1,
      'Widget.b': 1,
      'Widget.c': 1,
      'Widget.never': 1,
      'Widget.bad': 3,
    })
    expect(calls.filter((ids) => ids.includes('Widget.bad')).slice(1)).toEqual([
      ['Widget.bad'],
      ['Widget.bad'],
    ])
    expect(aggregator.failures().map((f) => [f.kind, f.resourceId])).toEqual([
      ['execute', 'Widget.never'],
    ])
    expect(aggregator.stats()).toMatchObject({ executions: 4 })
  })

  it('executeBatch resolving with nothing executes all; a malformed report fails the call', async () => {
    const { aggregator } = setup({
      max: 100,
      retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 },
      executeBatch: () => ({ failed: [{ index: 7, error: new Error('?') }] }),
    })
    aggregator.offer(widget('a'))
    await aggregator.close()
    const [failure] = aggregator.failures()
    expect(failure?.error).toBeInstanceOf(CacheError)
    expect(String(failure?.error)).toMatch(/not an index of its 1 claims/)
  })

  it('adds raw inputs into the held entry, telling inserts, merges and renewals apart', async () => {
    const { aggregator, clock, sink } = setup({ maxAgeMs: 100 })
    await aggregator.add(Widget, { id: 'r', clicks: 1 })
    await aggregator.add(Widget, { id: 'r', clicks: 2, impressions: 1 })
    await aggregator.offer(widget('r', 4))
    expect(aggregator.peek('Widget.r')?.doc).toMatchObject({ clicks: 7, impressions: 2 })
    clock.now = 100
    await aggregator.add(Widget, { id: 'r', clicks: 8 }) // past its max age: a new session
    expect(aggregator.stats()).toMatchObject({ offers: 4, inserts: 1, merges: 2, renewals: 1 })
    expect(() => aggregator.add(Widget, { id: 'r', bogus: 1 } as never)).toThrow(ArgumentError)
    expect(() => aggregator.add(Widget, { id: '' })).toThrow(ArgumentError)
    const Gadget = defineModel('Gadget', { id: id(), clicks: sum() }, { collection: 'Widget' })
    expect(() => aggregator.add(Gadget, { id: 'r', clicks: 1 })).toThrow(ArgumentError)
    expect(aggregator.peek('Widget.r')?.doc).toMatchObject({ clicks: 8, impressions: 0 })
    await aggregator.close()
    expect(sink.totals.get('r')).toEqual({ clicks: 15, impressions: 2 })
  })

  it('reads the held partial aggregate with get (marking it used) and peek (not)', async () => {
    const { aggregator, sink } = setup({ max: 2 })
    await aggregator.add(Widget, { id: 'a', clicks: 1 })
    await aggregator.add(Widget, { id: 'b', clicks: 2 })
    expect(aggregator.peek('Widget.a')?.doc).toMatchObject({ clicks: 1 })
    expect(aggregator.get('Widget.a')?.doc).toMatchObject({ clicks: 1 }) // a is now the newest
    await aggregator.add(Widget, { id: 'c', clicks: 3 }) // so b leaves
    expect([aggregator.has('Widget.a'), aggregator.has('Widget.b')]).toEqual([true, false])
    expect(aggregator.get('Widget.zzz')).toBeUndefined()
    expect(aggregator.peek('nodot')).toBeUndefined()
    await aggregator.flush()
    expect(aggregator.has('Widget.a')).toBe(true)
    expect(aggregator.peek('Widget.a')).toBeUndefined() // clean: all of it folded
    await aggregator.close()
    expect(sink.totals.get('b')).toEqual({ clicks: 2, impressions: 0 })
  })

  it('ends a session offered an update with forceExpiry at once', async () => {
    const { aggregator, sink } = setup()
    await aggregator.offer(widget('f', 1))
    const forced = widget('f', 2)
    forced.forceExpiry = true
    await aggregator.offer(forced)
    expect(aggregator.stats().ended.forced).toBe(1)
    expect(aggregator.has('Widget.f')).toBe(false)
    await aggregator.drain()
    expect(sink.totals.get('f')).toEqual({ clicks: 3, impressions: 2 })
    await aggregator.close()
  })

  it("measures an update's own sessions on the aggregator's clock", async () => {
    const { aggregator, clock } = setup()
    clock.now = 5_000
    // Created with another clock (Date.now): its session counts from when it is offered.
    await aggregator.offer(Widget.create({ id: 's', clicks: 1 }, { softSessionMs: 100 }))
    clock.now = 5_099
    await aggregator.purge()
    expect(aggregator.has('Widget.s')).toBe(true)
    clock.now = 5_100
    await aggregator.purge()
    expect(aggregator.stats().ended.idle).toBe(1)
    await aggregator.close()
  })

  it('sweeps on its own, on the real clock, again after a fold left nothing timed', async () => {
    const { aggregator } = setup({ flushIntervalMs: 10, now: Date.now })
    await aggregator.offer(widget('t', 1))
    await waitFor('the first fold', async () => aggregator.stats().folds === 1, 10_000)
    await aggregator.offer(widget('t', 2)) // dirty again: its fold deadline is filed anew
    await waitFor('the second fold', async () => aggregator.stats().folds === 2, 10_000)
    await aggregator.close()
  })

  it('executes every ended session of a model declaring onComplete, one that carried only its id included', async () => {
    const seen: Array<{ id: string; clicks: number }> = []
    const Visit = defineModel(
      'Visit',
      { id: id(), clicks: sum() },
      { onComplete: (visit) => void seen.push(visit) },
    )
    const shard = new MemoryShard({ codec: new Codec([Visit]) })
    const aggregator = createAggregator({ shard, max: 10 })
    await aggregator.add(Visit, { id: 'only-id' })
    await aggregator.add(Visit, { id: 'clicked', clicks: 2 })
    await aggregator.close()
    expect(seen.sort((a, b) => (a.id < b.id ? -1 : 1))).toEqual([
      { id: 'clicked', clicks: 2 },
      { id: 'only-id', clicks: 0 },
    ])
  })
})
