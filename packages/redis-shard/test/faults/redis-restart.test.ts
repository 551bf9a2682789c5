import type { Update } from '@phonon/core'
import { type RedisServer, seededRandom, startRedis, waitFor } from '@phonon/testkit'
import { afterEach, describe, expect, it } from 'vitest'
import type { Hold, RedisShard } from '../../src/index.js'
import { endSession, expectIdle, foldSession, Ledger, openSession, retry } from './ledger.js'
import { Pool } from './pool.js'
import {
  allAckedExecuted,
  expectTagged,
  resourceUpdate,
  runLanes,
  Tags,
  taggedDelta,
} from './tags.js'

/**
 * Redis SIGKILLed and restarted.
 * - With AOF `always`, under three workers' sessions: no acknowledged delta may be lost (each
 *   write is fsynced before its reply), deltas in flight at the kill are executed at most once,
 *   and the shard reports no lost state.
 * - Without persistence: what is lost is exactly what Redis held (the pending state of resources
 *   not executed yet), never a delta acknowledged after the restart; the shard reports the holds
 *   it found gone (`shardStateLost`); epochs and fencing tokens still increase (they are seeded
 *   from the server clock).
 */

const resources = Array.from({ length: 8 }, (_, i) => resourceUpdate(i, true))

let server: RedisServer | undefined
const pool = new Pool()
afterEach(async () => {
  await pool.close()
  await server?.stop()
})

/** `shardStateLost` of a v3 shard (undefined before it existed). */
const stateLost = (shard: RedisShard) =>
  (shard.stats() as { shardStateLost?: number }).shardStateLost

/** Tagged deltas for one worker, reported to `tags` as tried. */
function deltas(name: string, tags: Tags, seed: number) {
  const random = seededRandom(seed)
  let seq = 0
  return (resource: Update): { delta: Update; tag: string } => {
    const delta = taggedDelta(resource, `o:${name}:${++seq}`, random)
    return { delta, tag: tags.try(delta) }
  }
}

describe('Redis SIGKILLed and restarted', () => {
  it('with AOF always: no acknowledged delta is lost', async () => {
    server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    const namespace = 'aof'
    const ledger = new Ledger()
    const tags = new Tags()
    const topology = { nodes: [server.url] }
    const workers = await Promise.all(
      ['a', 'b', 'c'].map((name) => pool.worker(topology, namespace, name, ledger)),
    )
    let stop = false
    const loops = runLanes(workers, 3, resources, namespace, ledger, tags, () => stop)
    await waitFor('some progress', async () => tags.acked.size >= 30, 30_000)
    server.kill('SIGKILL') // in the middle of whatever the workers are doing
    await server.restart() // the same directory: Redis replays its AOF
    const restartedAt = tags.acked.size
    await waitFor(
      'progress after the restart',
      async () => tags.acked.size >= restartedAt + 30,
      30_000,
    )
    stop = true
    await loops
    await waitFor('every acked delta executed', async () => allAckedExecuted(ledger, tags), 30_000)
    expectTagged(ledger, tags)
    await expectIdle(workers[0] as RedisShard, resources)
    for (const shard of workers) expect(stateLost(shard) ?? 0).toBe(0)
  }, 90_000)
  it('without persistence: exactly what Redis held is lost; epochs and fences still increase', async () => {
    server = await startRedis()
    const namespace = 'volatile'
    const ledger = new Ledger()
    const tags = new Tags()
    const topology = { nodes: [server.url] }
    const [a, b] = await Promise.all(
      ['a', 'b'].map((name) => pool.worker(topology, namespace, name, ledger)),
    )
    if (!a || !b) throw new Error('two workers')
    const fromA = deltas('a', tags, 1)
    const fromB = deltas('b', tags, 2)
    const held = resources.slice(0, 6)
    const executedAlone = resources[6] as Update

    // Before: a holds six resources and folds into them; b releases its sessions of the same
    // resources (not the last holder: their state stays pending in Redis); a seventh resource is
    // executed; a lock is taken.
    const holds: Hold[] = []
    for (const resource of held) {
      const { delta, tag } = fromA(resource)
      holds.push(await foldSession(a, await openSession(a, resource), delta))
      tags.ack(tag)
      const { delta: last, tag: lastTag } = fromB(resource)
      const result = await endSession(b, await openSession(b, resource), last, ledger)
      expect(result).toMatchObject({ last: false, reason: 'held' })
      tags.ack(lastTag)
    }
    const { delta: alone, tag: aloneTag } = fromA(executedAlone)
    await endSession(a, await openSession(a, executedAlone), alone, ledger)
    tags.ack(aloneTag)
    const lock = await b.lock('Tally.locked')
    const before = new Set(ledger.executions.keys())
    const executedBefore = new Set([aloneTag])
    expect([...ledger.executions.values()].map((e) => e.resourceId)).toEqual([
      executedAlone.resourceId,
    ])
    // What Redis holds now and nobody else has: every acknowledged delta not executed yet.
    const lostTags = new Set([...tags.acked].filter((tag) => !executedBefore.has(tag)))

    server.kill('SIGKILL')
    await server.restart() // empty: nothing was persisted

    // After: a folds again under its holds (Redis forgot them), then ends its sessions; b runs
    // new sessions of every resource; the lock is taken again.
    for (const [i, resource] of held.entries()) {
      const { delta, tag } = fromA(resource)
      holds[i] = await foldSession(a, holds[i] as Hold, delta)
      tags.ack(tag)
    }
    for (const [i, hold] of holds.entries()) {
      const { delta, tag } = fromA(held[i] as Update)
      await endSession(a, hold, delta, ledger)
      tags.ack(tag)
    }
    for (const resource of resources) {
      const { delta, tag } = fromB(resource)
      await endSession(b, await openSession(b, resource), delta, ledger)
      tags.ack(tag)
    }
    const relock = await retry('lock', () => b.lock('Tally.locked'))

    await waitFor(
      'every acked delta Redis did not hold executed',
      async () => allAckedExecuted(ledger, tags, (tag) => lostTags.has(tag)),
      30_000,
    )
    const executed = expectTagged(ledger, tags, (tag) => lostTags.has(tag))
    // Lost: exactly what Redis held — all of it, and nothing acknowledged after the restart.
    expect([...lostTags].filter((tag) => executed.has(tag))).toEqual([])
    expect([...tags.acked].filter((tag) => !executed.has(tag)).sort()).toEqual([...lostTags].sort())
    // The shard says it lost state: a's folds found their holds gone.
    expect(stateLost(a)).toBeGreaterThan(0)
    // Epochs: every execution after the restart has a larger epoch than any before, per resource.
    for (const resource of resources) {
      const epochs = [...ledger.executions]
        .filter(([, e]) => e.resourceId === resource.resourceId)
        .map(([key, e]) => ({ before: before.has(key), epoch: e.epoch }))
      const newest = Math.max(0, ...epochs.filter((e) => e.before).map((e) => e.epoch))
      for (const e of epochs.filter((x) => !x.before)) expect(e.epoch).toBeGreaterThan(newest)
    }
    // Fencing tokens too.
    expect(relock.fencingToken).toBeGreaterThan(lock.fencingToken)
    await relock.release()
    await expectIdle(b, resources)
  }, 90_000)
})
