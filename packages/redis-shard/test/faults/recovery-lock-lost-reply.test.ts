import type { ModelUpdate } from '@phonon/core'
import { startFaultProxy } from '@phonon/testkit'
import { expect, it } from 'vitest'
import { type Claim, connect } from '../../src/index.js'
import { codec, redisFixture, Widget } from '../shards.js'

/**
 * A recovery whose lock's reply is lost: the `SET … NX` ran, ioredis sends it again on its new
 * connection and finds the lock set — by this same recoverer. That lock is the recoverer's: the
 * dead worker must be recovered now, not once the lock's lease (30 s by default) has run out.
 */

const redis = redisFixture()

it("a recovery lock whose reply was lost is the recoverer's own: the dead worker is recovered at once", async () => {
  const namespace = 'lock-lost'
  const proxy = await startFaultProxy({ target: redis.server })
  const executed: Claim[] = []
  const worker = (workerId: string, url: string, options = {}) =>
    connect({ nodes: [url], codec: codec(), namespace, workerId, heartbeatMs: 0, ...options })
  const dying = await worker('dying', redis.server.url)
  // Its heartbeat is not old enough for the recoverer to recover it by itself at connect.
  const recoverer = await worker('recoverer', proxy.url, {
    deadAfterMs: 60_000,
    execute: (claim: Claim) => void executed.push(claim),
    redis: { retryStrategy: () => 20 },
  })
  try {
    const hold = await dying.acquire(Widget.create({ id: 'w1' }))
    await dying.fold(hold, Widget.create({ id: 'w1', clicks: 3 }))
    const lost = proxy.failNext('drop-reply', (command) => command.name === 'SET')
    expect(await recoverer.recovery.recover(dying.incarnation)).toBe(true)
    await lost
    expect(executed.map((c) => (c.update as ModelUpdate).aggregate())).toMatchObject([
      { clicks: 3 },
    ])
    expect(await recoverer.count('Widget.w1')).toBe(0)
  } finally {
    await recoverer.close()
    dying.router.clients.map((client) => client.disconnect())
    await proxy.close()
  }
}, 30_000)
