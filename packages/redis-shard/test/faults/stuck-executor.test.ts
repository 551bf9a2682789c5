import { type RedisServer, seededRandom, startRedis, waitFor } from '@phonon/testkit'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { recoveryKey } from '../../src/keys.js'
import { foldSession, Ledger, openSession } from './ledger.js'
import { Pool } from './pool.js'
import { executedTags, resourceUpdate, Tags, taggedDelta } from './tags.js'

/**
 * Invariant 3: a live executor stuck on a claim it took in a recovery must not keep that claim
 * forever when the resource sees no further release (found by the fault tests, fixed in v3: the
 * dead incarnation stays watched until the claim completes or its lease runs out).
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
  const tags = new Tags()
  const dead = await pool.worker(topology, namespace, 'dead', ledger, { heartbeatMs: 0 })
  const resource = resourceUpdate(0, false)
  const delta = taggedDelta(resource, 'o:dead:1', seededRandom(1))
  await foldSession(dead, await openSession(dead, resource), delta)
  tags.ack(tags.try(delta))
  // `stuck` is alive (it beats) but its sink never answers.
  let claimed = false
  let unstick = () => {}
  const stuck = await pool.worker(topology, namespace, 'stuck', ledger, {
    leaseMs: 1_000,
    execute: () => {
      claimed = true
      return new Promise<void>((resolve) => {
        unstick = resolve
      })
    },
  })
  const stuckRecovery = stuck.recovery.recover(dead.incarnation)
  await waitFor('stuck to claim t0', async () => claimed, 10_000)
  // Its recovery lock runs out before its claim's lease (both leaseMs long, the lock taken
  // first): under load the gap is hundreds of ms. Here: at once.
  await server.command('DEL', recoveryKey(namespace, dead.incarnation))
  const janitor = await pool.worker(topology, namespace, 'janitor', ledger, { leaseMs: 1_000 })
  expect(await janitor.recovery.recover(dead.incarnation)).toBe(true) // evict: claim valid, skipped
  // The lease runs out after 1 s; the janitor beats every 100 ms and re-claims t0 then.
  await waitFor('t0 executed by someone', async () => executedTags(ledger).has('o:dead:1'), 10_000)
  unstick() // the stuck worker finishes: its late completion of a claim taken over changes nothing
  await stuckRecovery
  expect(executedTags(ledger).get('o:dead:1')).toBe(1)
}, 30_000)
