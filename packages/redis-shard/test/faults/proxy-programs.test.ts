import type { Update } from '@phonon/core'
import {
  type FaultProxy,
  type ProxiedCommand,
  type RedisServer,
  randomFaults,
  startFaultProxy,
  startRedis,
} from '@phonon/testkit'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connect, type RedisShard, type Shard } from '../../src/index.js'
import {
  Doc,
  endSession,
  expectExact,
  expectIdle,
  faultCodec,
  foldSession,
  Ledger,
  openSession,
  retry,
  Tally,
} from './ledger.js'

/**
 * Random programs of several workers, each a `RedisShard` connected through a fault-injecting
 * proxy that drops replies after Redis ran the command, drops commands, delays replies, and now
 * and then cuts every connection and refuses new ones for a moment. Every operation is retried
 * until it succeeds, as `@phonon/lru-update` does. After the drain: sum executed == sum offered
 * per resource and field, each (resource, epoch) executed once, no holder and no claim left.
 *
 * `FAULTS_RUNS=200` runs longer (the default fits the suite's budget).
 */

const RUNS = Number(process.env.FAULTS_RUNS ?? 10)
const TALLIES = 3
const DOCS = 2

interface Delta {
  readonly clicks: number
  readonly views: number
  readonly country: string
  readonly n: number
}

interface SessionPlan {
  readonly doc: boolean
  readonly resource: number
  readonly folds: readonly Delta[]
  readonly release: Delta | null
}

interface Program {
  readonly workers: ReadonlyArray<readonly SessionPlan[]>
  /** The seed of the proxy's random faults. */
  readonly seed: number
  /** Every this many faultable commands, the proxy cuts every connection and refuses for a while. */
  readonly cutEvery: number
  /** The shards' `rememberExecuted` (the completes then also write released records). */
  readonly rememberExecuted: boolean
}

const delta: fc.Arbitrary<Delta> = fc.record({
  clicks: fc.integer({ min: 0, max: 5 }),
  views: fc.integer({ min: 0, max: 5 }),
  country: fc.constantFrom('fr', 'us', 'é'),
  n: fc.integer({ min: 1, max: 4 }),
})

const session: fc.Arbitrary<SessionPlan> = fc
  .record({
    doc: fc.boolean(),
    resource: fc.nat(TALLIES - 1),
    folds: fc.array(delta, { maxLength: 2 }),
    release: fc.option(delta),
  })
  .map((plan) => ({ ...plan, resource: plan.doc ? plan.resource % DOCS : plan.resource }))

const program: fc.Arbitrary<Program> = fc.record({
  workers: fc.array(fc.array(session, { minLength: 1, maxLength: 6 }), {
    minLength: 2,
    maxLength: 4,
  }),
  seed: fc.integer(),
  cutEvery: fc.integer({ min: 15, max: 60 }),
  rememberExecuted: fc.boolean(),
})

/** The update of a session's resource carrying a delta (or none: `Tally.create({ id })`). */
function updateOf(plan: SessionPlan, d: Delta | null): Update {
  if (plan.doc)
    return new Doc({ id: `d${plan.resource}`, collection: 'Doc', doc: { n: d?.n ?? 0 } })
  const id = `t${plan.resource}`
  return d === null
    ? Tally.create({ id })
    : Tally.create({ id, clicks: d.clicks, views: d.views, byCountry: { [d.country]: d.n } })
}

/** Connection handshakes pass: a fault there only delays the reconnect. */
const faultable = (command: ProxiedCommand) =>
  !['HELLO', 'CLIENT', 'INFO', 'SELECT', 'AUTH'].includes(command.name)

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server?.stop()
})

/** One worker's program: its sessions on two lanes (so its sessions of a resource overlap). */
async function runWorker(shard: Shard, plans: readonly SessionPlan[], ledger: Ledger) {
  const lanes = [plans.filter((_, i) => i % 2 === 0), plans.filter((_, i) => i % 2 === 1)]
  await Promise.all(
    lanes.map(async (lane) => {
      for (const plan of lane) {
        let hold = await openSession(shard, updateOf(plan, null))
        for (const d of plan.folds) {
          const update = updateOf(plan, d)
          hold = await foldSession(shard, hold, update)
          ledger.offer(update)
        }
        const last = plan.release && updateOf(plan, plan.release)
        await endSession(shard, hold, last ?? undefined, ledger)
        if (last) ledger.offer(last)
      }
    }),
  )
}

async function run(prog: Program, namespace: string): Promise<void> {
  const proxy: FaultProxy = await startFaultProxy({ target: server })
  const random = randomFaults({
    seed: prog.seed,
    dropReply: 0.06,
    dropCommand: 0.03,
    delay: 0.05,
    maxDelayMs: 20,
    match: faultable,
  })
  let faultables = 0
  proxy.policy = (command) => {
    if (faultable(command) && ++faultables % prog.cutEvery === 0) {
      setImmediate(() => {
        proxy.cut()
        proxy.refuse(30)
      })
    }
    return random(command)
  }
  const workers: RedisShard[] = []
  const ledger = new Ledger()
  try {
    for (let i = 0; i < prog.workers.length; i++) {
      workers.push(
        await retry('connect', () =>
          connect({
            nodes: [proxy.url],
            codec: faultCodec(),
            namespace,
            workerId: `w${i}`,
            heartbeatMs: 0,
            rememberExecuted: prog.rememberExecuted,
            redis: { retryStrategy: () => 10 },
          }),
        ),
      )
    }
    await Promise.all(workers.map((shard, i) => runWorker(shard, prog.workers[i] ?? [], ledger)))
    proxy.policy = () => 'pass'
    proxy.allow()
    expectExact(ledger)
    // Lost replies are not lost state: a retry must be told apart from a hold Redis forgot.
    for (const shard of workers)
      expect((shard.stats() as { shardStateLost?: number }).shardStateLost ?? 0).toBe(0)
    const probe = await connect({
      nodes: [server.url],
      codec: faultCodec(),
      namespace,
      heartbeatMs: 0,
    })
    try {
      const touched = new Map<string, Update>()
      for (const plans of prog.workers)
        for (const plan of plans) touched.set(`${plan.doc}${plan.resource}`, updateOf(plan, null))
      await expectIdle(probe, [...touched.values()])
    } finally {
      await probe.close()
    }
  } finally {
    proxy.policy = () => 'pass'
    proxy.allow()
    await Promise.allSettled(workers.map((shard) => shard.close()))
    await proxy.close()
  }
}

describe('random programs of several workers through a fault-injecting proxy', () => {
  it('sum executed == sum offered, each (resource, epoch) once, nothing left held or claimed', async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(program, (prog) => run(prog, `prog${++runs}`)),
      { numRuns: RUNS, endOnFailure: !process.env.FAULTS_SHRINK },
    )
  }, 300_000)
})
