import { ShardError } from '@phonon/core'
import { describe, expect, it } from 'vitest'
import { Reference, type Shard } from '../src/index.js'
import { Counters, memoryWorkers, redisFixture } from './shards.js'

const redis = redisFixture()
const memory = memoryWorkers()

describe.each([
  ['redis', () => redis.worker()],
  ['memory', () => memory.worker()],
] as const)('Reference on %s', (_, worker) => {
  it("reads like phonon's Reference: acquire, fold, count, timesModified, forceExpiry, release", async () => {
    const a: Shard = await worker()
    const b: Shard = await worker()
    const resource = {
      resourceId: `refs.${Math.random().toString(36).slice(2)}`,
      typeName: 'Counters',
    }
    const id = resource.resourceId.slice(5)
    const ra = new Reference(a, resource)
    const rb = new Reference(b, resource)
    await ra.acquire()
    await rb.acquire()
    await expect(ra.acquire()).rejects.toBeInstanceOf(ShardError)
    expect(await ra.count()).toBe(2)
    const folded = await ra.fold({ delta: new Counters({ id, collection: 'refs', doc: { n: 1 } }) })
    expect(folded).toMatchObject({ timesModified: 1, forcedExpiry: false, lost: false })
    expect(await ra.release()).toEqual({ last: false, reason: 'held' })
    await rb.forceExpiry()
    expect(
      (await rb.fold({ delta: new Counters({ id, collection: 'refs', doc: { n: 2 } }) }))
        .forcedExpiry,
    ).toBe(true)
    expect(await rb.timesModified()).toBe(2)
    const last = await rb.release({
      delta: new Counters({ id, collection: 'refs', doc: { n: 4 } }),
    })
    if (!last.last) throw new Error('expected the last release')
    expect(last.claim.update.doc).toEqual({ n: 7 })
    expect(await rb.completeExecution(last.claim)).toBeUndefined()
    expect(await ra.count()).toBe(0)
    await expect(ra.release()).rejects.toBeInstanceOf(ShardError)
  })
})
