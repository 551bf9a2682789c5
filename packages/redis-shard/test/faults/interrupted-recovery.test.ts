import { describe, expect, it } from 'vitest'
import { Ledger } from './ledger.js'
import { expectRecovered, processFixture, WorkerProcess } from './processes.js'
import { Tags } from './tags.js'

/**
 * A recovery interrupted by its recoverer (separate OS processes, a real redis-server): SIGKILLed
 * in the middle of it, or alive with a sink that hangs. Another worker must finish it, executing
 * what was claimed once per epoch (a re-run of an epoch must carry the same totals).
 */

const { worker, config } = processFixture()

/**
 * A worker process that held `resources` resources (a tagged fold into each) and was SIGKILLed,
 * then a recoverer process whose sink hangs after `stuckAfter` executions: it is then in the
 * middle of recovering the dead one, surely.
 */
async function deadAndStuckRecoverer(namespace: string, resources: number, stuckAfter: number) {
  const ledger = new Ledger()
  const tags = new Tags()
  const hold = Array.from({ length: resources }, (_, i) => i)
  const dead = new WorkerProcess(
    config(namespace, 'dead', { mode: 'hold', hold, resources, withDoc: true }),
    ledger,
    tags,
  )
  await dead.reported('held')
  await dead.kill()
  const recoverer = new WorkerProcess(
    config(namespace, 'recoverer', { mode: 'idle', stuckAfter }),
    ledger,
    tags,
  )
  await recoverer.reported('stuck')
  return { ledger, tags, recoverer }
}

describe('a recovery interrupted by the recoverer', () => {
  it('a recoverer SIGKILLed in the middle of recovering a dead worker: another finishes it', async () => {
    const namespace = 'interrupted'
    const { ledger, tags, recoverer } = await deadAndStuckRecoverer(namespace, 40, 3)
    await recoverer.kill()
    const janitor = await worker(namespace, 'janitor', ledger)
    await expectRecovered(ledger, tags, janitor, 40, true)
    expect(tags.acked.size).toBe(40)
  }, 60_000)

  it('a live recoverer whose sink hangs: its claims are re-claimed by recovery alone once their leases ran out', async () => {
    const namespace = 'stuck'
    const { ledger, tags, recoverer } = await deadAndStuckRecoverer(namespace, 4, 1)
    // Alive (its heartbeat goes on), but it will never complete what it claimed. The janitor's
    // recovery skips the claims while their leases are valid and keeps the dead worker listed,
    // so a later heartbeat re-claims them (33478bb): every acknowledged delta is executed before
    // any release of the resources (expectRecovered's probe releases only after that).
    const janitor = await worker(namespace, 'janitor', ledger)
    await expectRecovered(ledger, tags, janitor, 4, true)
    expect(recoverer.child.exitCode).toBeNull()
    expect(tags.acked.size).toBe(4)
  }, 60_000)
})
