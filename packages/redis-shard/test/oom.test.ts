import { ShardError } from '@phonon/core'
import { describe, expect, it } from 'vitest'
import { redisFixture, Widget } from './shards.js'

const redis = redisFixture()

describe('a Redis out of memory', () => {
  it('refuses whole scripts: a release keeps its holder and its retry folds the delta', async () => {
    const shard = await redis.worker({ namespace: 'oom' })
    const hold = await shard.acquire(Widget.create({ id: 'm' }))
    const delta = Widget.create({ id: 'm', clicks: 5 })
    await redis.server.command('CONFIG', 'SET', 'maxmemory', '1')
    try {
      await expect(shard.release(hold, delta)).rejects.toThrow(ShardError)
      await expect(shard.fold(hold, delta)).rejects.toThrow(ShardError)
    } finally {
      await redis.server.command('CONFIG', 'SET', 'maxmemory', '0')
    }
    expect(await shard.count('Widget.m')).toBe(1)
    const result = await shard.release(hold, delta)
    expect(result.last).toBe(true)
    if (result.last) {
      expect((result.claim.update as ReturnType<typeof Widget.create>).aggregate().clicks).toBe(5)
    }
  })
})
