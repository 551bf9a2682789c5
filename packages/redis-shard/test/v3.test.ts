import { spawnSync } from 'node:child_process'
import { ArgumentError, type ModelUpdate, ShardError } from '@phonon/core'
import { waitFor } from '@phonon/testkit'
import { describe, expect, it } from 'vitest'
import {
  type Claim,
  connect,
  type Hold,
  MemoryShard,
  type RedisShard,
  ResourceError,
  type Shard,
} from '../src/index.js'
import { codec, Everything, memoryWorkers, redisFixture, Widget } from './shards.js'

const redis = redisFixture()
const memory = memoryWorkers()
const unique = () => Math.random().toString(36).slice(2)
const clicksOf = (update: unknown) =>
  (update as ModelUpdate<typeof Widget.fields>).aggregate().clicks

/** Options both shards take. */
interface Options {
  readonly rememberExecuted?: boolean
  readonly leaseMs?: number
  readonly execute?: (claim: Claim) => void
}
/** Recovers a dead incarnation through `by` (executing and completing what it claims). */
const recover = (by: Shard, dead: string) =>
  by instanceof MemoryShard ? by.recover(dead) : (by as RedisShard).recovery.recover(dead)

describe.each([
  ['redis', (options: Options = {}) => redis.worker({ namespace: 'v3', ...options })],
  ['memory', (options: Options = {}) => memory.worker(options)],
] as const)('v3 operations on %s', (_, worker) => {
  it('every operation called twice (a lost reply retried) counts once', async () => {
    const a: Shard = await worker()
    const b: Shard = await worker()
    const id = unique()
    const minted = a.newHold(Widget.create({ id }))
    await a.acquire(minted)
    await a.acquire(minted) // retried acquire: still one holder
    expect(await a.count(minted.resourceId)).toBe(1)
    const other = await b.acquire(Widget.create({ id }))
    const folded = await a.fold(minted, Widget.create({ id, clicks: 2 }))
    await a.fold(minted, Widget.create({ id, clicks: 2 })) // the same step again: no-op
    expect(await a.timesModified(minted.resourceId)).toBe(1)
    const first = await a.release(folded.hold, Widget.create({ id, clicks: 3 }))
    expect(first).toEqual({ last: false, reason: 'held' })
    expect(await a.release(folded.hold, Widget.create({ id, clicks: 3 }))).toEqual({
      last: false,
      reason: 'released',
    })
    const last = await b.release(other, Widget.create({ id, clicks: 1 }))
    const again = await b.release(other, Widget.create({ id, clicks: 1 }))
    if (!last.last || !again.last) throw new Error('expected the last release to claim, twice')
    expect(again.claim.epoch).toBe(last.claim.epoch)
    expect(clicksOf(last.claim.update)).toBe(6)
    // A complete retried after its reply was lost hands back the same next claim.
    const h = await a.acquire(Widget.create({ id }))
    await a.release(h, Widget.create({ id, clicks: 4 })) // pending behind the claim
    const next = await b.completeExecution(last.claim)
    const nextAgain = await b.completeExecution(last.claim)
    expect(next?.epoch).toBeGreaterThan(last.claim.epoch)
    expect(nextAgain?.epoch).toBe(next?.epoch)
    expect(clicksOf(next?.update)).toBe(4)
    expect(await b.completeExecution(next as NonNullable<typeof next>)).toBeUndefined()
    expect(a.stats().shardStateLost + b.stats().shardStateLost).toBe(0)
  })

  it('folds of a hold apply in step order: a retry once, one ahead of a missing fold refused with nothing changed', async () => {
    const a: Shard = await worker()
    const b: Shard = await worker()
    const id = unique()
    const other = await b.acquire(Widget.create({ id })) // keeps the resource held meanwhile
    const h0 = await a.acquire(Widget.create({ id }))
    const h1 = { ...h0, step: 1 } // as if the fold of h0 was sent and its reply lost
    const ahead = await a.foldMany([[h1, Widget.create({ id, clicks: 10 })]])
    expect(ahead[0]).toBeInstanceOf(ResourceError)
    expect((ahead[0] as ResourceError).code).toBe('outOfOrder')
    const refused = await a.releaseMany([[h1, Widget.create({ id, clicks: 10 })]])
    expect((refused[0] as ResourceError).code).toBe('outOfOrder')
    expect(await a.timesModified(h0.resourceId)).toBe(0)
    expect(await a.count(h0.resourceId)).toBe(2)
    // The missing fold arrives (twice: a retry), then the refused ones go through.
    const f1 = await a.fold(h0, Widget.create({ id, clicks: 1 }))
    expect(f1.hold).toEqual(h1)
    expect((await a.fold(h0, Widget.create({ id, clicks: 1 }))).hold).toEqual(h1)
    const f2 = await a.fold(h1, Widget.create({ id, clicks: 10 }))
    await a.fold(h0, Widget.create({ id, clicks: 1 })) // a late retry past the record: no-op
    expect(await a.timesModified(h0.resourceId)).toBe(2)
    expect(await a.release(f2.hold, Widget.create({ id, clicks: 100 }))).toEqual({
      last: false,
      reason: 'held',
    })
    const last = await b.release(other)
    if (!last.last) throw new Error('expected the last release to claim')
    expect(clicksOf(last.claim.update)).toBe(111)
    await b.completeExecution(last.claim)
  })

  it('a fold of a released hold: a replay (at or below its final step) is applied once, one past it refused notHeld; whether its release claimed or not', async () => {
    const a: Shard = await worker()
    const id = unique()
    const first = await a.acquire(Widget.create({ id }))
    const second = await a.acquire(Widget.create({ id }))
    const folded = await a.fold(first, Widget.create({ id, clicks: 1 }))
    expect(await a.release(folded.hold)).toEqual({ last: false, reason: 'held' })
    // The fold replayed (twice: a retry of the replay) after the release: applied, not lost.
    for (let i = 0; i < 2; i++) {
      const replayed = await a.fold(first, Widget.create({ id, clicks: 1 }))
      expect(replayed).toMatchObject({ hold: folded.hold, lost: false, timesModified: 1 })
    }
    const late = await a.foldMany([[folded.hold, Widget.create({ id, clicks: 10 })]])
    expect((late[0] as ResourceError).code).toBe('notHeld')
    const s1 = await a.fold(second, Widget.create({ id, clicks: 2 }))
    const s2 = await a.fold(s1.hold, Widget.create({ id, clicks: 3 }))
    const last = await a.release(s2.hold)
    if (!last.last) throw new Error('expected the last release to claim')
    for (const [hold, clicks] of [
      [second, 2],
      [s1.hold, 3],
      [second, 2],
    ] as const) {
      const replayed = await a.fold(hold, Widget.create({ id, clicks }))
      expect(replayed).toMatchObject({ hold: { step: hold.step + 1 }, lost: false })
    }
    const late2 = await a.foldMany([[s2.hold, Widget.create({ id, clicks: 10 })]])
    expect((late2[0] as ResourceError).code).toBe('notHeld')
    expect(clicksOf(last.claim.update)).toBe(6)
    expect(await a.count(second.resourceId)).toBe(0)
    expect(await a.timesModified(second.resourceId)).toBe(0)
    // A replay of the earlier hold, after a later hold of its incarnation was released: applied.
    expect(await a.fold(first, Widget.create({ id, clicks: 1 }))).toMatchObject({ lost: false })
    expect(await a.completeExecution(last.claim)).toBeUndefined()
    expect(await a.count(second.resourceId)).toBe(0)
    expect(a.stats().shardStateLost).toBe(0)
  })

  it('a release behind a fold whose reply was lost records the final step the shard applied', async () => {
    const a: Shard = await worker()
    const b: Shard = await worker()
    const id = unique()
    const other = await b.acquire(Widget.create({ id }))
    const h0 = await a.acquire(Widget.create({ id }))
    await a.fold(h0, Widget.create({ id, clicks: 5 })) // its reply lost: the caller keeps h0
    expect(await a.release(h0)).toEqual({ last: false, reason: 'held' })
    // The fold replayed: at the shard's final step (1), so applied; one past it refused.
    expect(await a.fold(h0, Widget.create({ id, clicks: 5 }))).toMatchObject({ lost: false })
    const past = await a.foldMany([[{ ...h0, step: 1 }, Widget.create({ id, clicks: 7 })]])
    expect((past[0] as ResourceError).code).toBe('notHeld')
    const last = await b.release(other)
    if (!last.last) throw new Error('expected the last release to claim')
    expect(clicksOf(last.claim.update)).toBe(5)
    await b.completeExecution(last.claim)
  })

  /**
   * A logged round replayed after it was applied in full (its folds, its release, the claim the
   * release won executed and completed): what `@phonon/streams` does when a worker dies before
   * removing the round's log entry. Returns what the replay answered.
   */
  async function replayCompleted(options: Options, complete: 'owner' | 'recovery' | 'takeover') {
    const a: Shard = await worker({ ...options, leaseMs: complete === 'takeover' ? 300 : 30_000 })
    const b: Shard = await worker(options)
    const id = unique()
    const hold = await a.acquire(Widget.create({ id }))
    const folded = await a.fold(hold, Widget.create({ id, clicks: 1 }))
    const released = await a.release(folded.hold, Widget.create({ id, clicks: 2 }))
    if (!released.last) throw new Error('expected the release to claim')
    expect(clicksOf(released.claim.update)).toBe(3)
    if (complete === 'owner') expect(await a.completeExecution(released.claim)).toBeUndefined()
    if (complete === 'recovery') expect(await recover(b, a.incarnation)).toBe(true)
    if (complete === 'takeover') {
      // A release of b once a's lease ran out takes a's claim over (same epoch); b completes it.
      let taken: Claim | undefined
      await waitFor(
        "a release after the claim's lease",
        async () => {
          const result = await b.release(await b.acquire(Widget.create({ id })))
          if (result.last) taken = result.claim
          return taken !== undefined
        },
        10_000,
      )
      expect(taken?.epoch).toBe(released.claim.epoch)
      expect(await b.completeExecution(taken as Claim)).toBeUndefined()
    }
    expect(await b.count(hold.resourceId)).toBe(0)
    // The replay, sent by another worker as the orphan sweep does: the same holds and steps.
    const fold = await b.foldMany([[hold, Widget.create({ id, clicks: 1 })]])
    const release = await b.releaseMany([[folded.hold, Widget.create({ id, clicks: 2 })]])
    return { fold: fold[0], release: release[0], a, b, resourceId: hold.resourceId }
  }

  it.each(['owner', 'recovery', 'takeover'] as const)(
    'rememberExecuted: a release replayed with its folds after its claim was completed (by %s) counts nothing',
    async (by) => {
      const { fold, release, a, b, resourceId } = await replayCompleted(
        { rememberExecuted: true, execute: () => {} },
        by,
      )
      expect(fold).toMatchObject({ lost: false })
      expect(release).toEqual({ last: false, reason: 'released' })
      expect(await b.count(resourceId)).toBe(0)
      expect(await b.timesModified(resourceId)).toBe(0)
      expect(a.stats().shardStateLost + b.stats().shardStateLost).toBe(0)
      expect(a.rememberExecuted && b.rememberExecuted).toBe(true)
    },
  )

  it('without rememberExecuted, a release replayed after its claim was completed by its owner counts again, flagged lost', async () => {
    const { fold, release, b } = await replayCompleted({}, 'owner')
    expect(fold).toMatchObject({ lost: true })
    const again = release as Awaited<ReturnType<Shard['release']>>
    if (!again.last) throw new Error('expected the replayed release to claim again')
    expect(clicksOf(again.claim.update)).toBe(3)
    expect(b.stats().shardStateLost).toBe(1)
    expect(b.rememberExecuted).toBe(false)
    await b.completeExecution(again.claim)
  })

  it('forceExpiry: the next release by any holder executes the pending state now', async () => {
    const a: Shard = await worker()
    const b: Shard = await worker()
    const id = unique()
    const ha = await a.acquire(Widget.create({ id }))
    const hb = await b.acquire(Widget.create({ id }))
    const fa = await a.fold(ha, Widget.create({ id, clicks: 5 }))
    await b.forceExpiry(ha.resourceId)
    expect((await b.fold(hb, Widget.create({ id, clicks: 1 }))).forcedExpiry).toBe(true)
    const forced = await a.release(fa.hold)
    if (!forced.last) throw new Error('expected the forced release to claim')
    expect(clicksOf(forced.claim.update)).toBe(6)
    expect(await a.count(ha.resourceId)).toBe(1) // b still holds: its later deltas start anew
    await a.completeExecution(forced.claim)
    const later = await b.release(hb, Widget.create({ id, clicks: 2 }))
    if (!later.last) throw new Error('expected the last release to claim')
    expect(clicksOf(later.claim.update)).toBe(2)
    await b.completeExecution(later.claim)
  })

  it('claimEmpty: a release that carries nothing still claims an execution', async () => {
    const shard: Shard = await worker()
    const id = unique()
    const hold = await shard.acquire(Widget.create({ id }))
    const result = await shard.release(hold, undefined, { claimEmpty: true })
    if (!result.last) throw new Error('expected a claim')
    expect(clicksOf(result.claim.update)).toBe(0)
    await shard.completeExecution(result.claim)
  })

  it('bad input: another resource, malformed lock ids and ids not well-formed UTF-16', async () => {
    const shard: Shard = await worker()
    const id = unique()
    const hold = await shard.acquire(Widget.create({ id }))
    await expect(shard.release(hold, Widget.create({ id: `${id}x`, clicks: 1 }))).rejects.toThrow(
      ArgumentError,
    )
    await expect(shard.fold(hold, Widget.create({ id: `${id}x`, clicks: 1 }))).rejects.toThrow(
      ArgumentError,
    )
    for (const lockId of ['', 'a}b{', 's\ud800', 's\udc00'])
      await expect(shard.lock(lockId)).rejects.toThrow(ArgumentError)
    expect(() => Widget.create({ id: 's\ud800' })).toThrow(ArgumentError)
    expect(() => Widget.create({ id: 's\udc00' })).toThrow(ArgumentError)
    expect(Widget.create({ id: 's\ufffd' }).resourceId).toBe('Widget.s\ufffd')
    expect(await shard.count(hold.resourceId)).toBe(1)
    expect(await shard.timesModified(hold.resourceId)).toBe(0)
    await shard.release(hold)
  })
})

describe('RedisShard only', () => {
  it('per field kind, overflow and wrong types fail that resource alone, unchanged; the batch proceeds', async () => {
    const shard = await redis.worker({ namespace: 'atomic' })
    const id = unique()
    const big = 2n ** 62n
    // Overflow of an in-hash integer (the second fold of two 2^62 would pass 2^63).
    const ok = await shard.acquire(Everything.create({ id: `${id}ok` }))
    const over = await shard.acquire(Everything.create({ id: `${id}over` }))
    const keeper = await shard.acquire(Everything.create({ id: `${id}over` }))
    await shard.release(over, Everything.create({ id: `${id}over`, big }))
    const again = await shard.acquire(Everything.create({ id: `${id}over` }))
    const results = await shard.releaseMany([
      [again, Everything.create({ id: `${id}over`, big, count: 1, tags: ['x'] })],
      [ok, Everything.create({ id: `${id}ok`, count: 1 })],
    ])
    expect(results[0]).toBeInstanceOf(ResourceError)
    expect((results[0] as ResourceError).code).toBe('overflow')
    expect(results[1]).toMatchObject({ last: true })
    // Unchanged: the failed release still holds, and nothing of its delta was folded.
    expect(await shard.count(again.resourceId)).toBe(2)
    expect(await shard.timesModified(again.resourceId)).toBe(1)
    await expect(shard.release(again)).resolves.toMatchObject({ reason: 'held' })
    const last = await shard.release(keeper)
    if (!last.last) throw new Error('expected a claim')
    expect((last.claim.update as ModelUpdate).aggregate()).toMatchObject({ big, count: 0 })
    // Overflow of a counterMap member, and a key of the wrong type, per field kind.
    const server = redis.server
    for (const field of ['tags', 'log', 'visitors', 'top', 'byCountry']) {
      const rid = `${id}${field}`
      const hold = await shard.acquire(Everything.create({ id: rid }))
      const holder2 = await shard.acquire(Everything.create({ id: rid }))
      const index = Everything.valueFields.findIndex(([name]) => name === field) + 1
      await server.cli('set', `{atomic:Everything.${rid}}:p${index}`, 'not a collection')
      const [failed] = await shard.releaseMany([
        [hold, Everything.create({ id: rid, count: 1, [field]: sample(field) })],
      ])
      expect((failed as ResourceError).code, field).toBe('wrongType')
      expect(await shard.timesModified(hold.resourceId)).toBe(0)
      await server.cli('del', `{atomic:Everything.${rid}}:p${index}`)
      await shard.release(hold)
      await shard.release(holder2)
    }
    const wrongHash = `${id}hash`
    await server.cli('set', `{atomic:Widget.${wrongHash}}`, 'x')
    const [refused] = await shard.acquireMany([Widget.create({ id: wrongHash })])
    expect((refused as ResourceError).code).toBe('wrongType')
    expect(await server.cli('get', `{atomic:Widget.${wrongHash}}`)).toBe('x')
  })

  it('a restart under the same name recovers the dead incarnation at its first heartbeat', async () => {
    const namespace = 'same-name'
    const executed: number[] = []
    const first = await redis.worker({ namespace, workerId: 'pod-1' })
    const hold = await first.acquire(Widget.create({ id: 'x' }))
    await first.fold(hold, Widget.create({ id: 'x', clicks: 1 }))
    // The process dies (no close); it restarts under the same name.
    const restarted = await redis.worker({
      namespace,
      workerId: 'pod-1',
      execute: (claim) => void executed.push(clicksOf(claim.update)),
    })
    expect(restarted.incarnation).not.toBe(first.incarnation)
    // Its first heartbeat (at connect) named the old incarnation dead: no deadAfterMs to wait.
    await waitFor('the old incarnation recovered', async () => executed.length > 0, 10_000)
    expect(executed).toEqual([1])
    expect(await restarted.count(hold.resourceId)).toBe(0)
  })

  it('connecting to an unreachable Redis fails with a ShardError within 5 s, without unhandled error events', () => {
    const program = `
      import { connect } from '@phonon/redis-shard'
      import { Codec } from '@phonon/core'
      const started = Date.now()
      try {
        await connect({ nodes: ['redis://127.0.0.1:1'], codec: new Codec([]), heartbeatMs: 0 })
        console.log('connected?')
      } catch (error) {
        console.log(error.name, Date.now() - started < 5000, error.cause !== undefined)
      }`
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--conditions=@phonon/source', '--input-type=module', '-e', program],
      { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname, timeout: 20_000 },
    )
    expect(run.stdout.trim()).toBe('ShardError true true')
    expect(run.stderr).not.toContain('Unhandled error event')
  }, 30_000)

  it('waitReplicas never waits past waitTimeoutMs: a typed error when no replica acknowledges', async () => {
    const shard = await redis.worker({ namespace: 'wait', waitReplicas: 1, waitTimeoutMs: 200 })
    const hold = await shard.acquire(Widget.create({ id: 'w' }))
    const started = Date.now()
    await expect(shard.release(hold, Widget.create({ id: 'w', clicks: 1 }))).rejects.toThrow(
      ShardError,
    )
    expect(Date.now() - started).toBeLessThan(2_000)
    // The release itself went through on the primary: a retry says so, and folds nothing.
    const retried = await connect({
      nodes: [redis.server.url],
      codec: codec(),
      namespace: 'wait',
      heartbeatMs: 0,
    })
    try {
      const result = await retried.release(hold as Hold, Widget.create({ id: 'w', clicks: 1 }))
      expect(result).toMatchObject({ last: true })
    } finally {
      await retried.close()
    }
  })
})

function sample(field: string): unknown {
  if (field === 'top') return [[1, 'a']]
  if (field === 'byCountry') return { fr: 1 }
  return ['a']
}
