import { type RedisNodes, startRedisNodes } from '@phonon/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, RendezvousRouter } from '../src/index.js'
import { resourceKey } from '../src/keys.js'
import { checkReports, runSessions } from './fixtures/sessions.js'
import { codec } from './shards.js'

const fakeClients = (n: number) => Array.from({ length: n }, () => ({}) as never)
const names = (n: number) => Array.from({ length: n }, (_, i) => `redis://10.0.0.${i}:6379`)
const tags = Array.from({ length: 30_000 }, (_, i) => `phonon:Widget.${i}`)

describe('rendezvous hashing over standalone nodes', () => {
  it('spreads resources evenly', () => {
    const router = new RendezvousRouter(names(3), fakeClients(3))
    const counts = [0, 0, 0]
    for (const tag of tags) counts[router.nodeIndex(tag)] = (counts[router.nodeIndex(tag)] ?? 0) + 1
    for (const count of counts) expect(Math.abs(count / tags.length - 1 / 3)).toBeLessThan(0.02)
  })

  it('adding a node moves about 1/N of the resources, all of them to the new node', () => {
    const before = new RendezvousRouter(names(3), fakeClients(3))
    const after = new RendezvousRouter(names(4), fakeClients(4))
    const moved = tags.filter((tag) => before.nodeIndex(tag) !== after.nodeIndex(tag))
    expect(Math.abs(moved.length / tags.length - 1 / 4)).toBeLessThan(0.02)
    expect(moved.every((tag) => after.nodeIndex(tag) === 3)).toBe(true)
  })
})

describe('3 standalone redis-servers', () => {
  let nodes: RedisNodes
  beforeAll(async () => {
    nodes = await startRedisNodes(3)
  })
  afterAll(async () => {
    await nodes?.stop()
  })

  it('keep the invariants, with each resource whole on one node and every node used', async () => {
    const namespace = 'hash'
    const shards = await Promise.all(
      Array.from({ length: 8 }, () =>
        connect({ nodes: nodes.urls, codec: codec(), namespace, heartbeatMs: 0 }),
      ),
    )
    try {
      const reports = await Promise.all(
        shards.map((shard, i) => runSessions(shard, 200 + i, 40, 30)),
      )
      const router = new RendezvousRouter(nodes.urls, fakeClients(3))
      const server = (resource: string) =>
        nodes.servers[router.nodeIndex(`${namespace}:${resource}`)]
      await checkReports(
        reports,
        async (key) => {
          // A key is looked up on the node its resource hashes to, and must exist on no other.
          const resource = key.slice(key.indexOf(':') + 1, key.indexOf('}'))
          const counts = await Promise.all(
            nodes.servers.map((s) => s.cli('exists', key).then(Number)),
          )
          expect(counts.reduce((a, b) => a + b, 0)).toBe(
            counts[nodes.servers.indexOf(server(resource) as never)],
          )
          return counts.reduce((a, b) => a + b, 0)
        },
        (resource) => resourceKey(namespace, resource),
      )
      // Each node holds exactly the resources that hash to it (30 resources: every node gets some):
      // hold each once more, and find their hashes.
      const used = [...new Set(reports.flatMap((report) => Object.keys(report.offered)))]
      const holder = shards[0] as (typeof shards)[number]
      const holds = await Promise.all(
        used.map((resourceId) => holder.acquire({ resourceId, typeName: 'Widget' })),
      )
      const hashKeys = await Promise.all(
        nodes.servers.map(async (s) =>
          (await s.cli('--scan', '--pattern', `{${namespace}:Widget.*}`))
            .split('\n')
            .filter(Boolean),
        ),
      )
      for (const hold of holds) await holder.release(hold)
      for (const [i, keys] of hashKeys.entries()) {
        const expected = used.filter((resource) => server(resource) === nodes.servers[i])
        expect(keys.map((key) => key.slice(namespace.length + 2, -1)).sort()).toEqual(
          expected.sort(),
        )
        expect(expected.length).toBeGreaterThan(0)
      }
    } finally {
      await Promise.all(shards.map((shard) => shard.close()))
    }
  }, 60_000)
})
