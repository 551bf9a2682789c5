import type { ModelUpdate } from '@phonon/core'
import { type RedisCluster, startRedisCluster, waitFor } from '@phonon/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type Hold, type RedisShard } from '../../src/index.js'
import { resourceKey } from '../../src/keys.js'
import { checkReports, runSessions } from '../fixtures/sessions.js'
import { codec, Widget } from '../shards.js'

let cluster: RedisCluster
const shards: RedisShard[] = []
beforeAll(async () => {
  cluster = await startRedisCluster()
}, 60_000)
afterAll(async () => {
  await Promise.allSettled(shards.map((shard) => shard.close()))
  await cluster?.stop()
})

const worker = async (options: { namespace: string; waitReplicas?: number }) => {
  const shard = await connect({
    cluster: cluster.nodes,
    codec: codec(),
    heartbeatMs: 0,
    ...options,
  })
  shards.push(shard)
  return shard
}

/** `EXISTS key` through a cluster-aware redis-cli. */
const exists = async (key: string) =>
  Number(await (cluster.servers[0] as (typeof cluster.servers)[number]).cli('-c', 'exists', key))

describe('a Redis Cluster of 3 primaries and 3 replicas', () => {
  it('keeps the invariants: 8 workers, single-slot scripts, every slot group used', async () => {
    const namespace = 'cl'
    const workers = await Promise.all(Array.from({ length: 8 }, () => worker({ namespace })))
    const reports = await Promise.all(
      workers.map((shard, i) => runSessions(shard, 300 + i, 30, 30)),
    )
    await checkReports(reports, exists, (resource) => resourceKey(namespace, resource))
    const primaries = await cluster.primaries()
    const keysPerPrimary = await Promise.all(primaries.map((p) => p.cli('dbsize').then(Number)))
    expect(keysPerPrimary.every((n) => n > 0)).toBe(true)
  }, 60_000)

  it('loses no release acknowledged by WAIT when a primary is killed and its replica takes over', async () => {
    const namespace = 'failover'
    const ids = Array.from({ length: 12 }, (_, i) => `f${i}`)
    const holder = await worker({ namespace })
    const holds = await holder.acquireMany(ids.map((id) => Widget.create({ id })))
    // Acknowledged releases: each returned only after a replica had it (WAIT 1).
    const acked = await worker({ namespace, waitReplicas: 1 })
    const expected = new Map(ids.map((id) => [`Widget.${id}`, 0]))
    for (let round = 0; round < 5; round++) {
      for (const id of ids) {
        const hold = await acked.acquire(Widget.create({ id }))
        await acked.release(hold, Widget.create({ id, clicks: round + 1 }))
        expected.set(`Widget.${id}`, (expected.get(`Widget.${id}`) ?? 0) + round + 1)
      }
    }
    const [victim] = await cluster.primaries()
    victim?.kill('SIGKILL')
    await waitFor(
      'a replica to take over',
      async () => {
        const live = cluster.servers.filter((s) => s !== victim)
        const infos = await Promise.all(live.map((s) => s.cli('cluster', 'info')))
        return (
          infos.every((info) => info.includes('cluster_state:ok')) &&
          (await cluster.primaries()).length === 3
        )
      },
      30_000,
    )
    // The holder ends its sessions: as the last holder it executes everything acknowledged.
    const totals = new Map<string, number>()
    for (const hold of holds as Hold[]) {
      await waitFor(
        'the client to reach the new primary',
        async () => (await holder.count(hold.resourceId)) >= 1,
        15_000,
      )
      const result = await holder.release(hold)
      if (!result.last)
        throw new Error(`${hold.resourceId}: expected the last release, got ${result.reason}`)
      totals.set(
        hold.resourceId,
        (result.claim.update as ModelUpdate<typeof Widget.fields>).aggregate().clicks,
      )
      await holder.completeExecution(result.claim)
    }
    expect(totals).toEqual(expected)
  }, 90_000)
})
