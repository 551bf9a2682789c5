import { type RedisCluster, type RedisServer, startRedisCluster, waitFor } from '@phonon/testkit'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { RedisShard } from '../../src/index.js'
import { expectEventuallyIdle, Ledger } from './ledger.js'
import { Pool } from './pool.js'
import { allAckedExecuted, expectTagged, resourceUpdate, runLanes, Tags } from './tags.js'

/**
 * A Redis Cluster primary SIGKILLed under a workload of three workers, with and without
 * `waitReplicas`. What the shard promises, and what is asserted:
 * - always: no holder entry is left blocking a resource without a live session behind it, no
 *   claim is left that nobody completes (a completion lost with the old primary leaves its claim
 *   until the lease runs out; the next release takes it over: the probe of
 *   `expectEventuallyIdle` does, and executes it), no delta is executed twice, and the numbers
 *   executed are exactly those of the deltas executed;
 * - with `waitReplicas: 1`: every acknowledged delta is executed (an acknowledged write was on a
 *   replica, which the failover promotes);
 * - without: Redis' asynchronous replication may lose the writes of the last moments before the
 *   kill — only deltas acknowledged before the failover completed may be missing; every delta
 *   acknowledged after it is executed.
 */

const RESOURCES = 32
const LANES = 6
const resources = Array.from({ length: RESOURCES }, (_, i) => resourceUpdate(i, true))

let cluster: RedisCluster
const pool = new Pool()
beforeAll(async () => {
  cluster = await startRedisCluster()
}, 60_000)
afterEach(async () => {
  await pool.close()
})
afterAll(async () => {
  await cluster?.stop()
})

/** Whether every running node sees the Cluster ok with three primaries. */
async function healthy(): Promise<boolean> {
  const live = cluster.servers.filter((server) => server.running)
  const infos = await Promise.all(live.map((server) => server.cli('cluster', 'info')))
  return (
    infos.every((info) => info.includes('cluster_state:ok')) &&
    (await cluster.primaries()).length === 3
  )
}

/** The primary holding the most keys: surely one the workload writes to. */
async function busiestPrimary(): Promise<RedisServer> {
  const primaries = await cluster.primaries()
  const sizes = await Promise.all(primaries.map((p) => p.cli('dbsize').then(Number)))
  return primaries[sizes.indexOf(Math.max(...sizes))] as RedisServer
}

async function failoverUnderLoad(namespace: string, waitReplicas: number) {
  const ledger = new Ledger()
  const tags = new Tags()
  const workers = await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      pool.worker({ cluster: cluster.nodes }, namespace, name, ledger, {
        heartbeatMs: 200,
        waitReplicas,
        waitTimeoutMs: 1_000,
      }),
    ),
  )
  let stop = false
  // Several lanes per worker: many writes in flight when the primary dies.
  const loops = runLanes(workers, LANES, resources, namespace, ledger, tags, () => stop)
  await waitFor('some progress', async () => tags.acked.size >= 100, 30_000)
  const victim = await busiestPrimary()
  victim.kill('SIGKILL')
  await waitFor('a replica to take over', healthy, 30_000)
  const ackedBeforeFailover = new Set(tags.acked)
  const progress = async (what: string) => {
    const from = tags.acked.size
    await waitFor(what, async () => tags.acked.size >= from + 60, 60_000)
  }
  // Without WAIT, a while with a primary that has no replica. (With WAIT 1, releases there
  // cannot be acknowledged until it has one again.)
  if (waitReplicas === 0) await progress('progress with a primary short of replicas')
  // The old primary comes back as a replica of the new one.
  await victim.restart()
  await progress('progress after the old primary is back')
  stop = true
  await loops
  return { ledger, tags, workers, ackedBeforeFailover }
}

describe('a Cluster primary SIGKILLed under a workload', () => {
  it('with waitReplicas 1: every acknowledged delta executed once, nothing left held or claimed', async () => {
    const { ledger, tags, workers } = await failoverUnderLoad('wait', 1)
    await waitFor('every acked delta executed', async () => allAckedExecuted(ledger, tags), 30_000)
    await expectEventuallyIdle(workers[0] as RedisShard, resources, ledger)
    expectTagged(ledger, tags)
  }, 120_000)

  it('without waitReplicas: only writes acknowledged before the failover may be lost; nothing left held', async () => {
    const { ledger, tags, workers, ackedBeforeFailover } = await failoverUnderLoad('nowait', 0)
    const mayBeLost = (tag: string) => ackedBeforeFailover.has(tag)
    await waitFor(
      'every delta acked after the failover executed',
      async () => allAckedExecuted(ledger, tags, mayBeLost),
      30_000,
    )
    await expectEventuallyIdle(workers[0] as RedisShard, resources, ledger)
    const executed = expectTagged(ledger, tags, mayBeLost)
    // Replication is asynchronous but fast: almost everything survives.
    expect(executed.size).toBeGreaterThan(tags.acked.size / 2)
  }, 120_000)
})
