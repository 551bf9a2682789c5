import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Codec, defineModel, id, type ModelUpdate, sum } from '@phonon/core'
import { waitFor } from '@phonon/testkit'
import { describe, expect, it } from 'vitest'
import type { Claim, Hold } from '../src/index.js'
import { redisFixture, spawnWorker, Widget } from './shards.js'

const redis = redisFixture()

/** Starts a fixture worker and waits for its first line of output. */
async function startWorker(args: string[]): Promise<{ child: ChildProcess; line: string }> {
  const child = spawnWorker(args)
  const [chunk] = (await once(child.stdout as NodeJS.ReadableStream, 'data')) as [Buffer]
  return { child, line: chunk.toString().trim() }
}

describe('recovery of dead workers', () => {
  it('kill -9 mid-session: another worker evicts it and executes its resource exactly once', async () => {
    const namespace = 'kill'
    const executed: Claim[] = []
    const { child } = await startWorker(['hold', redis.server.url, namespace, 'w1', '7'])
    const survivor = await redis.worker({
      namespace,
      heartbeatMs: 50,
      deadAfterMs: 400,
      execute: (claim) => void executed.push(claim),
    })
    const other = await survivor.acquire(Widget.create({ id: 'w1' }))
    child.kill('SIGKILL')
    await once(child, 'exit')
    await survivor.release(other, Widget.create({ id: 'w1', clicks: 5 }))
    // The survivor was not the last holder (the dead one still held w1) until recovery evicts it.
    await waitFor('recovery', async () => executed.length > 0, 10_000)
    expect(executed).toHaveLength(1)
    expect(((executed[0] as Claim).update as ModelUpdate).aggregate()).toMatchObject({ clicks: 12 })
    expect(await survivor.count('Widget.w1')).toBe(0)
    // The recovery forgets the dead worker after executing and completing its claim: wait for it.
    await waitFor(
      'the dead worker forgotten',
      async () => (await redis.server.cli('hlen', `{${namespace}}:workers`)) === '1',
      10_000,
    )
    expect(executed).toHaveLength(1)
  }, 30_000)

  it('by default, recovery hands the claim to execute (a sink dedupes on its epoch)', async () => {
    const namespace = 'default-execute'
    const seen: unknown[] = []
    // The same model as the dead worker's, with an onComplete that records its argument.
    const Tracked = defineModel(
      'Widget',
      { id: id(), clicks: sum(), impressions: sum() },
      { onComplete: (_, execution?: unknown) => void seen.push(execution) },
    )
    const { child, line } = await startWorker(['claim', redis.server.url, namespace, 'w3', '2'])
    await redis.worker({
      namespace,
      heartbeatMs: 50,
      deadAfterMs: 400,
      codec: new Codec([Tracked]),
    })
    child.kill('SIGKILL')
    await waitFor('recovery', async () => seen.length > 0, 10_000)
    expect(seen[0]).toMatchObject({ resourceId: 'Widget.w3', epoch: Number(line) })
  }, 30_000)

  it('an executor killed before completing: its claim is re-run once, with the same epoch', async () => {
    const namespace = 'stale'
    const executed: Claim[] = []
    const { child, line } = await startWorker(['claim', redis.server.url, namespace, 'w2', '4'])
    const epoch = Number(line)
    expect(epoch).toBeGreaterThan(0)
    await redis.worker({
      namespace,
      heartbeatMs: 50,
      deadAfterMs: 400,
      execute: (claim) => void executed.push(claim),
    })
    child.kill('SIGKILL')
    await waitFor('recovery', async () => executed.length > 0, 10_000)
    await new Promise((resolve) => setTimeout(resolve, 500)) // more heartbeats: no second run
    expect(executed.map((claim) => claim.epoch)).toEqual([epoch])
    expect(((executed[0] as Claim).update as ModelUpdate).aggregate()).toMatchObject({ clicks: 4 })
    expect(await redis.server.cli('exists', `{${namespace}:Widget.w2}:exec`)).toBe('0')
  }, 30_000)

  it('a late release of an evicted session still folds its delta (into the next session)', async () => {
    const namespace = 'late'
    const executed: Claim[] = []
    const paused = await redis.worker({ namespace, workerId: 'paused' })
    const recoverer = await redis.worker({
      namespace,
      execute: (claim) => void executed.push(claim),
    })
    const hold = await paused.acquire(Widget.create({ id: 'w3' }))
    await paused.fold(hold, Widget.create({ id: 'w3', clicks: 2 }))
    expect(await recoverer.recovery.recover(paused.incarnation)).toBe(true)
    expect(executed).toHaveLength(1)
    const late = await paused.release(hold, Widget.create({ id: 'w3', clicks: 3 }))
    if (!late.last) throw new Error(`expected the late release to claim, got ${late.reason}`)
    expect((late.claim.update as ModelUpdate).aggregate()).toMatchObject({ clicks: 3 })
    // The shard no longer knew the hold: folded anyway, and said so.
    expect(late.lost).toBe(true)
    expect(paused.stats().shardStateLost).toBe(1)
    await paused.completeExecution(late.claim)
  })

  it('a worker that finds its own heartbeat stale becomes a new incarnation and re-registers its open sessions', async () => {
    const namespace = 'stale-self'
    const shard = await redis.worker({ namespace, deadAfterMs: 200 })
    const hold = await shard.acquire(Widget.create({ id: 'open' }))
    const before = shard.incarnation
    await redis.server.cli('hset', `{${namespace}}:workers`, before, '1')
    await shard.recovery.heartbeat()
    expect(shard.incarnation).not.toBe(before)
    expect(await redis.server.cli('hkeys', `{${namespace}:i:${shard.incarnation}}`)).toBe(
      'Widget.open',
    )
    // When the new incarnation dies, its recovery removes the holds of the old one too.
    const recoverer = await redis.worker({ namespace, execute: () => {} })
    expect(await recoverer.recovery.recover(shard.incarnation, shard.lineage)).toBe(true)
    expect(await recoverer.count(hold.resourceId)).toBe(0)
  })

  it('a worker recovered and forgotten while cut off renews at its next beat: a claim it makes later is still recovered', async () => {
    const namespace = 'forgotten'
    const executed: Claim[] = []
    const cutOff = await redis.worker({ namespace, deadAfterMs: 200 })
    const hold = await cutOff.acquire(Widget.create({ id: 'w4' }))
    const folded = await cutOff.fold(hold, Widget.create({ id: 'w4', clicks: 2 }))
    const before = cutOff.incarnation
    // Its heartbeat went stale (a partition): another worker recovers it, executes what it had
    // folded, and forgets it (registry and heartbeat deleted).
    await redis.server.cli('hset', `{${namespace}}:workers`, before, '1')
    const recoverer = await redis.worker({
      namespace,
      deadAfterMs: 200,
      execute: (claim) => void executed.push(claim),
    })
    await waitFor(
      'the cut-off worker recovered and forgotten',
      async () => (await redis.server.cli('hexists', `{${namespace}}:workers`, before)) === '0',
      10_000,
    )
    expect(executed).toHaveLength(1)
    // Back: a registry write it queued while cut off lands first, after the recovery deleted
    // that registry. Its next beat finds no heartbeat of its own: coming back under the old name
    // would leave its open sessions in no registry. It renews, and deletes the registry the
    // write re-created (nobody else would).
    const leftBehind = `{${namespace}:i:${before}}`
    await redis.server.cli('hset', leftBehind, 'Widget.w4', 'Widget')
    await cutOff.recovery.heartbeat()
    expect(cutOff.incarnation).not.toBe(before)
    expect(cutOff.lineage).toEqual([before])
    expect(await redis.server.cli('exists', leftBehind)).toBe('0')
    // Its late release claims what it adds; it dies before completing: the claim is recovered.
    const late = await cutOff.release(folded.hold, Widget.create({ id: 'w4', clicks: 3 }))
    expect(late.last).toBe(true)
    // Had it died between the write and its sweep: the recovery of its new incarnation sweeps.
    await redis.server.cli('hset', leftBehind, 'Widget.w4', 'Widget')
    expect(await recoverer.recovery.recover(cutOff.incarnation, cutOff.lineage)).toBe(true)
    const clicks = executed.map((c) => (c.update as ModelUpdate).aggregate().clicks)
    expect(clicks).toEqual([2, 3])
    await recoverer.completeMany(executed.slice(1))
    expect(await redis.server.cli('exists', `{${namespace}:Widget.w4}`)).toBe('0')
    expect(await redis.server.cli('keys', `{${namespace}:i:*`)).toBe('')
  })

  it('close() removes the heartbeat of a worker that holds nothing, and keeps it otherwise', async () => {
    const namespace = 'closing'
    const idle = await redis.worker({ namespace })
    const busy = await redis.worker({ namespace })
    await busy.acquire(Widget.create({ id: 'held' }))
    const heartbeats = async () =>
      (await redis.server.cli('hkeys', `{${namespace}}:workers`)).split('\n').sort()
    expect(await heartbeats()).toEqual([idle.incarnation, busy.incarnation].sort())
    await idle.close()
    await busy.close()
    // The busy worker's hold must be recovered by others once its heartbeat is old.
    expect(await heartbeats()).toEqual([busy.incarnation])
  })

  it('recovers a worker holding many resources in batches, executing each exactly once', async () => {
    const namespace = 'many'
    const executed = new Map<string, number>()
    const dead = await redis.worker({ namespace, workerId: 'many-dead' })
    const recoverer = await redis.worker({
      namespace,
      execute: (claim) => {
        const clicks = (claim.update as ModelUpdate<typeof Widget.fields>).aggregate().clicks
        executed.set(claim.resourceId, (executed.get(claim.resourceId) ?? 0) + clicks)
      },
    })
    const ids = Array.from({ length: 600 }, (_, i) => `m${i}`)
    const holds = (await dead.acquireMany(ids.map((id) => Widget.create({ id })))) as Hold[]
    await dead.foldMany(
      holds.map(
        (hold, i) => [hold, Widget.create({ id: ids[i] as string, clicks: i + 1 })] as const,
      ),
    )
    const before = recoverer.stats().roundTrips
    expect(await recoverer.recovery.recover(dead.incarnation)).toBe(true)
    expect(executed.size).toBe(600)
    expect(
      [...executed].every(
        ([resourceId, clicks]) => clicks === Number(resourceId.slice('Widget.m'.length)) + 1,
      ),
    ).toBe(true)
    // Batched: a handful of round trips per 256 resources, not several per resource.
    expect(recoverer.stats().roundTrips - before).toBeLessThan(30)
    expect(await redis.server.cli('exists', `{${namespace}:i:${dead.incarnation}}`)).toBe('0')
  })

  it('a recovery slower than deadAfterMs does not let the recoverer pass for dead', async () => {
    const namespace = 'slow'
    let executing = 0
    const dead = await redis.worker({ namespace, workerId: 'slow-dead' })
    const hold = await dead.acquire(Widget.create({ id: 's1' }))
    await dead.fold(hold, Widget.create({ id: 's1', clicks: 1 }))
    await redis.server.cli('hset', `{${namespace}}:workers`, dead.incarnation, '1')
    const recoverer = await redis.worker({
      namespace,
      heartbeatMs: 50,
      deadAfterMs: 300,
      execute: async () => {
        executing++
        await new Promise((resolve) => setTimeout(resolve, 900)) // a slow sink: 3 × deadAfterMs
      },
    })
    const heartbeatAge = async () => {
      const [seconds, micros] = (await redis.server.cli('time')).split('\n').map(Number)
      const beat = Number(
        await redis.server.cli('hget', `{${namespace}}:workers`, recoverer.incarnation),
      )
      return (seconds as number) * 1000 + Math.floor((micros as number) / 1000) - beat
    }
    await waitFor('the recovery to start', async () => executing > 0, 5_000)
    // While the recoverer executes, its heartbeat keeps beating: it never looks dead.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(await heartbeatAge()).toBeLessThan(300)
    }
    expect(await redis.server.cli('hexists', `{${namespace}}:workers`, recoverer.incarnation)).toBe(
      '1',
    )
  })
})
