import type { ModelUpdate } from '@phonon/core'
import { describe, expect, it } from 'vitest'
import type { Shard } from '../src/index.js'
import { Counters, memoryWorkers, redisFixture, Widget } from './shards.js'

const redis = redisFixture()
const memory = memoryWorkers()

describe.each([
  ['redis', () => redis.worker()],
  ['memory', () => memory.worker()],
] as const)('phonon scenario on %s', (_, worker) => {
  it('two workers share a resource: counts go 2 → 1 → 0 and the last executes d=8, e=10, f=12', async () => {
    const a: Shard = await worker()
    const b: Shard = await worker()
    const resource = `s${Math.random().toString(36).slice(2)}`
    const doc = { d: 4, e: 5, f: 6 }
    const ua = new Counters({ id: resource, collection: 'scenario', doc })
    const ub = new Counters({ id: resource, collection: 'scenario', doc })
    const ha = await a.acquire(ua)
    const hb = await b.acquire(ub)
    expect(await a.count(ua.resourceId)).toBe(2)

    expect(await a.release(ha, ua)).toEqual({ last: false, reason: 'held' })
    expect(await b.count(ub.resourceId)).toBe(1)

    const result = await b.release(hb, ub)
    expect(await b.count(ub.resourceId)).toBe(0)
    if (!result.last) throw new Error(`expected the last release, got ${result.reason}`)
    expect(result.claim.update.doc).toEqual({ d: 8, e: 10, f: 12 })
    expect(result.claim.epoch).toBeGreaterThan(0)
    expect(await b.completeExecution(result.claim)).toBeUndefined()
    expect(await a.release(ha, ua)).toEqual({ last: false, reason: 'released' })
  })

  it('a model folds field by field and the last holder reads the totals back', async () => {
    const a = await worker()
    const b = await worker()
    const key = `w${Math.random().toString(36).slice(2)}`
    const ha = await a.acquire(Widget.create({ id: key }))
    const hb = await b.acquire(Widget.create({ id: key }))
    await a.release(ha, Widget.create({ id: key, clicks: 3, impressions: 10 }))
    const result = await b.release(hb, Widget.create({ id: key, clicks: 1 }))
    if (!result.last) throw new Error('expected the last release')
    expect((result.claim.update as ModelUpdate).aggregate()).toEqual({
      id: key,
      clicks: 4,
      impressions: 10,
    })
  })
})

describe.each([
  ['redis', () => redis.worker()],
  ['memory', () => memory.worker()],
] as const)('a retried release on %s', (_, worker) => {
  it('hands out the claim of its first attempt again until it is completed', async () => {
    const shard = await worker()
    const key = `retry${Math.random().toString(36).slice(2)}`
    const hold = await shard.acquire(Widget.create({ id: key }))
    const first = await shard.release(hold, Widget.create({ id: key, clicks: 2 }))
    const retried = await shard.release(hold, Widget.create({ id: key, clicks: 2 }))
    if (!first.last || !retried.last) throw new Error('expected both attempts to return the claim')
    expect(retried.claim.epoch).toBe(first.claim.epoch)
    expect((retried.claim.update as ModelUpdate).aggregate()).toEqual({
      id: key,
      clicks: 2,
      impressions: 0,
    })
    expect(await shard.completeExecution(first.claim)).toBeUndefined()
    expect(await shard.completeExecution(retried.claim)).toBeUndefined()
    expect(await shard.timesModified(`Widget.${key}`)).toBe(0)
  })
})
