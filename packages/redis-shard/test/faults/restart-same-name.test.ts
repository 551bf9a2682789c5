import { seededRandom, waitFor } from '@phonon/testkit'
import { describe, expect, it } from 'vitest'
import { endSession, Ledger, openSession } from './ledger.js'
import { expectRecovered, processFixture, WorkerProcess } from './processes.js'
import { resourceUpdate, Tags, taggedDelta } from './tags.js'

/**
 * Worker processes SIGKILLed and restarted under the same `workerId` (separate OS processes, a
 * real redis-server), as pods are: a restart must not keep the dead start's holds alive. Nothing
 * here depends on timing: kills follow reported progress, conditions are polled with deadlines,
 * and a live worker presumed dead under CPU load must not make a test wrong (the shard folds its
 * later operations as late ones; the totals stay exact).
 */

/** Kills of the loop test. */
const KILLS = 3

const { worker, config } = processFixture()

describe('worker processes killed and restarted under the same workerId', () => {
  it('the minimal case: worker-1 holds x, is SIGKILLed, restarts as worker-1; worker-2 releases x → executed', async () => {
    const namespace = 'minimal'
    const ledger = new Ledger()
    const tags = new Tags()
    // worker-1 counts as dead 5 s after its last heartbeat: it restarts well before (as a pod
    // does), so its name's heartbeat never looks stale. (A slower restart would make this case
    // easier for a shard, never wrong.)
    const slow = { deadAfterMs: 5_000 }
    const first = new WorkerProcess(
      config(namespace, 'worker-1', { mode: 'hold', hold: [0], ...slow }),
      ledger,
      tags,
    )
    await first.reported('held')
    // worker-2 takes a minute to find anyone dead: only worker-1's new start may recover the old.
    const worker2 = await worker(namespace, 'worker-2', ledger, { deadAfterMs: 60_000 })
    const hold = await openSession(worker2, resourceUpdate(0, false))
    await first.kill()
    // The same name again, alive: its heartbeat is fresh, the dead start's hold must still go.
    const again = new WorkerProcess(
      config(namespace, 'worker-1', { mode: 'idle', tagPrefix: 'o:worker-1:1', ...slow }),
      ledger,
      tags,
    )
    await again.reported('ready')
    const delta = taggedDelta(resourceUpdate(0, false), 'o:worker-2:0:1', seededRandom(2))
    const tag = tags.try(delta)
    await endSession(worker2, hold, delta, ledger)
    tags.ack(tag)
    await expectRecovered(ledger, tags, worker2, 1, false)
    expect(tags.acked.size).toBe(2) // worker-1's fold and worker-2's release, both executed
  }, 60_000)

  it('a loop: 2 workers under random sessions, SIGKILLed 3 times in all and restarted under their names', async () => {
    const namespace = 'loop'
    const ledger = new Ledger()
    const tags = new Tags()
    const random = seededRandom(11)
    // As in the minimal case, a restart comes well within deadAfterMs.
    const slow = { deadAfterMs: 5_000 }
    const setup = (name: string, start: number) =>
      config(namespace, name, {
        ...slow,
        tagPrefix: `o:${name}:${start}`,
        seed: 100 * start + Number(name.slice(1)),
        resources: 8,
        withDoc: true,
      })
    const janitor = await worker(namespace, 'janitor', ledger, slow)
    const processes = ['w0', 'w1'].map((name) => new WorkerProcess(setup(name, 0), ledger, tags))
    for (let kill = 1; kill <= KILLS; kill++) {
      const index = Math.floor(random() * processes.length)
      const victim = processes[index] as WorkerProcess
      // Killed after some progress of its own, wherever it is then (mid-script, mid-execution…).
      await waitFor(`${victim.config.name} to make progress`, async () => victim.acks >= 3, 30_000)
      await victim.kill()
      processes[index] = new WorkerProcess(setup(victim.config.name, kill), ledger, tags)
    }
    // Its SIGTERM handler is installed before it reports `ready`: then SIGTERM is a clean close.
    for (const process of processes) await process.reported('ready')
    for (const process of processes) process.child.kill('SIGTERM')
    for (const process of processes) expect(await process.exited).toEqual({ code: 0, signal: null })
    await expectRecovered(ledger, tags, janitor, 8, true)
    expect(tags.acked.size).toBeGreaterThan(3 * KILLS)
  }, 120_000)
})
