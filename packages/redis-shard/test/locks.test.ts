import { AlreadyLocked, LockNotOwned } from '@phonon/core'
import { describe, expect, it } from 'vitest'
import type { Shard } from '../src/index.js'
import { memoryWorkers, redisFixture } from './shards.js'

const redis = redisFixture()
const memory = memoryWorkers()
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe.each([
  ['redis', () => redis.worker()],
  ['memory', () => memory.worker()],
] as const)('locks on %s', (_, worker) => {
  it('are mutually exclusive under contention, with strictly increasing fencing tokens', async () => {
    const workers: Shard[] = await Promise.all(Array.from({ length: 6 }, () => worker()))
    const resource = `lock.${Math.random()}`
    let inside = 0
    let maxInside = 0
    const tokens: number[] = []
    await Promise.all(
      workers.map(async (shard) => {
        for (let i = 0; i < 5; i++) {
          const lock = await shard.lock(resource, { block: true, timeoutMs: 20_000 })
          inside++
          maxInside = Math.max(maxInside, inside)
          tokens.push(lock.fencingToken)
          await sleep(1)
          inside--
          await lock.release()
        }
      }),
    )
    expect(maxInside).toBe(1)
    expect(tokens).toHaveLength(30)
    // Tokens were pushed in grant order while holding the lock: strictly increasing.
    expect(tokens.every((token, i) => i === 0 || token > (tokens[i - 1] as number))).toBe(true)
  }, 30_000)

  it('fail at once with AlreadyLocked when held, or after the timeout when blocking', async () => {
    const [a, b] = [await worker(), await worker()]
    const resource = `lock.${Math.random()}`
    const held = await a.lock(resource)
    await expect(b.lock(resource)).rejects.toBeInstanceOf(AlreadyLocked)
    const started = Date.now()
    await expect(b.lock(resource, { block: true, timeoutMs: 150 })).rejects.toBeInstanceOf(
      AlreadyLocked,
    )
    expect(Date.now() - started).toBeGreaterThanOrEqual(140)
    await held.release()
  })

  it('hand over when the TTL runs out; the old owner can then neither release nor extend', async () => {
    const [a, b] = [await worker(), await worker()]
    const resource = `lock.${Math.random()}`
    const old = await a.lock(resource, { ttlMs: 50 })
    const next = await b.lock(resource, { block: true, timeoutMs: 2_000 })
    expect(next.fencingToken).toBeGreaterThan(old.fencingToken)
    await expect(old.release()).rejects.toBeInstanceOf(LockNotOwned)
    await expect(old.extend()).rejects.toBeInstanceOf(LockNotOwned)
    await next.extend(10_000)
    await next.release()
  })

  it('close() frees the locks the worker holds', async () => {
    const [a, b] = [await worker(), await worker()]
    const resource = `lock.${Math.random()}`
    await a.lock(resource, { ttlMs: 60_000 })
    await a.close()
    const lock = await b.lock(resource)
    await lock.release()
  })
})
