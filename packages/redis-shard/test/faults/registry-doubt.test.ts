import { startFaultProxy, waitFor } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { expect, it } from 'vitest'
import { type ConnectOptions, connect } from '../../src/index.js'
import { codec, redisFixture, Widget } from '../shards.js'

/**
 * A worker's registry (resource → type, what recovery evicts when the worker dies) must list every
 * resource it holds, also after a batch that carried the registry write failed without anyone
 * knowing whether it ran: the retry of the acquire must write it again. Found by the streams
 * proxy loop (packages/streams/test/proxyloop.test.ts): holds of a SIGKILLed worker left in Redis
 * after its recovery, their folded deltas never claimed (under-counted).
 */

const redis = redisFixture()

it('an acquire retried after its batch failed registers its resource: the holder dies, recovery evicts it', async () => {
  const namespace = 'doubt'
  const proxy = await startFaultProxy({ target: redis.server })
  const direct = new Redis(redis.server.url)
  /** A worker of `namespace` on `url`, without a heartbeat of its own. */
  const worker = (workerId: string, url: string, options: Partial<ConnectOptions>) =>
    connect({ nodes: [url], codec: codec(), namespace, workerId, heartbeatMs: 0, ...options })
  const dying = await worker('dying', proxy.url, { redis: { retryStrategy: () => 20 } })
  try {
    const hold = dying.newHold(Widget.create({ id: 'w1' }))
    // The registry write's connection is cut before Redis sees it, and reconnects are refused
    // until ioredis gives the batch up (maxRetriesPerRequest).
    const lost = proxy.failNext('drop-command', (c) => c.name === 'HSET')
    proxy.refuse()
    await expect(dying.acquireMany([hold])).rejects.toThrow()
    await lost
    proxy.allow()
    // Acquired on the retry (the same hold: lru-update retries a session's hold).
    expect(await dying.acquireMany([hold])).toEqual([hold])
    const registry = `{${namespace}:i:${dying.incarnation}}`
    expect(await direct.hgetall(registry)).toEqual({ 'Widget.w1': 'Widget' })

    // The worker dies (no heartbeat any more): another one recovers it, evicting its hold.
    const survivor = await worker('survivor', redis.server.url, { deadAfterMs: 200 })
    // Its first beat (at connect) or a later one recovers it, evicting its hold, then forgets it.
    await waitFor(
      'the dying worker recovered',
      async () => {
        await survivor.recovery.beat()
        return !(await direct.hexists(`{${namespace}}:workers`, dying.incarnation))
      },
      10_000,
    )
    expect(await survivor.count('Widget.w1')).toBe(0)
    await survivor.close()
  } finally {
    proxy.cut()
    dying.router.clients.map((client) => client.disconnect())
    await proxy.close()
    await direct.quit()
  }
}, 30_000)
