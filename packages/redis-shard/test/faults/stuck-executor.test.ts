import { type RedisServer, seededRandom, startRedis, waitFor } from '@phonon/testkit'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { recoveryKey, registryKey, resourceKey } from '../../src/keys.js'
import { foldSession, Ledger, openSession } from './ledger.js'
import { Pool } from './pool.js'
import { executedTags, resourceUpdate, taggedDelta } from './tags.js'

/**
 * Invariant 3: a live executor stuck on a claim it took in a recovery must not keep that claim
 * forever when the resource sees no further release (found by the fault tests, fixed in 33478bb:
 * the dead incarnation stays listed until the claim completes or its lease runs out).
 *
 * Every wait is on a state, with deadlines far above what the steps take (they time nothing): the
 * janitor's heartbeats are driven by the test (`beat()`, the timer's own step), so no recovery
 * races another, and the stuck worker never looks for dead workers itself (its `deadAfterMs` is
 * beyond the test), so its sink is called once.
 */

let server: RedisServer
const pool = new Pool()
beforeAll(async () => {
  server = await startRedis()
})
afterEach(() => pool.close())
afterAll(() => server?.stop())

it('a live but stuck recoverer: its claim is re-claimed after its lease, without any release', async () => {
  const namespace = 'stuck-repro'
  const topology = { nodes: [server.url] }
  const ledger = new Ledger()
  // Sends one heartbeat when it connects, none after: dead from then on.
  const dead = await pool.worker(topology, namespace, 'dead', ledger, { heartbeatMs: 0 })
  const resource = resourceUpdate(0, false)
  const delta = taggedDelta(resource, 'o:dead:1', seededRandom(1))
  await foldSession(dead, await openSession(dead, resource), ledger.offer(delta))
  // `stuck` is alive (it beats every 100 ms) but its sink never answers until let go.
  const pending: Array<() => void> = []
  const stuck = await pool.worker(topology, namespace, 'stuck', ledger, {
    leaseMs: 5_000,
    deadAfterMs: 3_600_000,
    execute: () => new Promise<void>((resolve) => pending.push(resolve)),
  })
  const stuckRecovery = stuck.recovery.recover(dead.incarnation)
  await waitFor('stuck to claim t0', async () => pending.length > 0, 60_000)
  const hash = resourceKey(namespace, resource.resourceId)
  expect(await server.command('HGET', hash, 'o')).toBe(stuck.incarnation)
  // Its recovery lock runs out before its claim's lease (both leaseMs long, the lock taken
  // first): under load the gap is hundreds of ms. Here: at once.
  await server.command('DEL', recoveryKey(namespace, dead.incarnation))
  const janitor = await pool.worker(topology, namespace, 'janitor', ledger, {
    heartbeatMs: 0,
    leaseMs: 5_000,
  })
  // The claim's lease is valid (its owner alive): evict skips it, and the dead incarnation stays
  // listed with that resource, to be looked at again.
  expect(await janitor.recovery.recover(dead.incarnation)).toBe(true)
  const registry = registryKey(namespace, dead.incarnation)
  // (Unless this machine took the 5 s of the lease to get here: then the janitor took it over.)
  if ((await server.command('HGET', hash, 'o')) === stuck.incarnation) {
    expect(await server.command('HEXISTS', registry, resource.resourceId)).toBe(1)
    expect(executedTags(ledger).get('o:dead:1')).toBeUndefined()
  }
  // Once the lease ran out, a heartbeat of the janitor (dead's heartbeat is stale by then)
  // recovers dead again and re-claims t0: no release of the resource is needed.
  await waitFor(
    't0 executed by the janitor',
    async () => {
      await janitor.recovery.beat()
      return executedTags(ledger).has('o:dead:1')
    },
    60_000,
  )
  expect(await server.command('EXISTS', registry)).toBe(0) // dead is forgotten now
  // The stuck worker finishes: its late completion of a claim taken over changes nothing.
  for (const resolve of pending) resolve()
  await stuckRecovery
  expect(pending).toHaveLength(1)
  expect(executedTags(ledger).get('o:dead:1')).toBe(1)
  expect(ledger.repeats).toEqual([])
  expect(ledger.executed().get(resource.resourceId)).toEqual(
    ledger.offered.get(resource.resourceId),
  )
  expect(await server.command('EXISTS', hash)).toBe(0)
}, 180_000)
