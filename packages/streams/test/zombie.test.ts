import { waitFor } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { expect, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { overlaps, readAudit } from './fixtures/audit.js'
import { caughtUp, drainAndCheck, processTestServers, startWorker } from './fixtures/loop.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const LEASE_MS = 2_000
/** phonon's shard presumes a silent worker dead after this: longer than any pause here. */
const DEAD_AFTER_MS = 120_000

const { schema, ...servers } = processTestServers('streams_zombie')

/** `a` < `b` for Redis stream ids. */
const before = (a: string, b: string) => {
  const [am = 0n, an = 0n] = a.split('-').map(BigInt)
  const [bm = 0n, bn = 0n] = b.split('-').map(BigInt)
  return am < bm || (am === bm && an < bn)
}

test('a worker process SIGSTOPped past its lease: its late round is refused, each record committed once', async () => {
  const server = servers.server()
  const sink = servers.sink()
  const config = defineStreams({ widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 } })
  const backend = new RedisBackend({ redis: server.url })
  const stream = getStream<WidgetEvent>('widgets', config, backend)
  const coordinator = backend.coordinator(stream.definition, 'widgets-test')
  const redis = new Redis(server.url)
  const t0 = Date.now()
  const log = (what: string) => console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`)
  const events = [...widgetEvents(30_000, 2_000, 5)]
  const zombie = startWorker(server.url, 'z1', LEASE_MS, schema, DEAD_AFTER_MS)
  const other = startWorker(server.url, 'z2', LEASE_MS, schema, DEAD_AFTER_MS)
  const owners = async () => (await coordinator.leases()).map((l) => l?.owner ?? '')
  const zombieShards = async () =>
    (await owners()).flatMap((owner, shard) => (owner.startsWith('z1.') ? [shard] : []))

  // Every checkpoint sampled all along: it must never move backwards.
  const backwards: string[] = []
  let sampling = true
  const sampler = (async () => {
    const seen = new Map<number, string>()
    while (sampling) {
      for (let shard = 0; shard < 16; shard++) {
        const checkpoint = await coordinator.checkpoint(shard)
        const prev = seen.get(shard)
        if (checkpoint === undefined) {
          if (prev !== undefined) backwards.push(`shard ${shard}: ${prev} → none`)
          continue
        }
        if (prev !== undefined && before(checkpoint, prev)) {
          backwards.push(`shard ${shard}: ${prev} → ${checkpoint}`)
        }
        seen.set(shard, checkpoint)
      }
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()

  await stream.putMany(events.slice(0, 10_000))
  await waitFor(
    'both workers to own shards',
    async () => {
      const all = await owners()
      return all.some((o) => o.startsWith('z1.')) && all.some((o) => o.startsWith('z2.'))
    },
    120_000,
  )
  await waitFor('the first records read', () => caughtUp(backend, stream), 120_000)
  // More records, and the worker paused at once, while it reads them.
  await stream.putMany(events.slice(10_000, 15_000))
  const taken = await zombieShards()
  log(`pausing z1 with shards ${taken.join(',')}`)
  zombie.kill('SIGSTOP')
  try {
    await stream.putMany(events.slice(15_000, 25_000))
    // Past its lease, the other worker takes every shard over and commits on them.
    const marks = await Promise.all(taken.map((shard) => coordinator.checkpoint(shard)))
    await waitFor(
      "the other worker to own the paused worker's shards and commit on one",
      async () => {
        const all = await owners()
        if (!taken.every((shard) => all[shard]?.startsWith('z2.'))) return false
        const now = await Promise.all(taken.map((shard) => coordinator.checkpoint(shard)))
        return now.some((c, i) => c !== marks[i])
      },
      60_000,
    )
  } finally {
    zombie.kill('SIGCONT')
  }
  log(`z1 resumed; shards now owned by ${(await owners()).join(' ')}`)
  await waitFor(
    'the resumed worker to find its leases lost',
    async () =>
      (await readAudit(redis)).some(
        (e) => 'lost' in e && e.worker.startsWith('z1.') && taken.includes(e.lost),
      ),
    60_000,
  )
  log('z1 found its leases lost')
  await stream.putMany(events.slice(25_000))
  await drainAndCheck(server.url, backend, stream, [zombie, other], truthOf(events), sink)
  log('drained, table == truth')
  sampling = false
  await sampler

  expect(backwards).toEqual([])
  const audit = await readAudit(redis)
  expect(overlaps(audit)).toEqual([])
  const committed = audit.reduce((n, e) => n + ('count' in e ? e.count : 0), 0)
  expect(committed).toBe(events.length)
  redis.disconnect()
  await backend.close()
}, 600_000)
