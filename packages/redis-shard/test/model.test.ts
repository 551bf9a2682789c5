import { AlreadyLocked, type ModelUpdate, type Update } from '@phonon/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Claim,
  connect,
  type FoldResult,
  type Hold,
  MemoryShard,
  MemoryStore,
  ResourceError,
  type Shard,
} from '../src/index.js'
import { Counters, codec, Everything, redisFixture, Widget } from './shards.js'

/**
 * The differential test: random programs of several workers' operations run against MemoryShard
 * (the reference model) and against the Lua scripts on a real redis-server give the same trace.
 */

const WORKERS = 3

type UpdateKind = 'widget' | 'counters' | 'everything'
const member = ['a', 'b', 'é', '\u{1F600}']
const RESOURCES = ['a', 'b']

type Op =
  | { kind: 'acquire'; worker: number; resource: number; type: UpdateKind }
  | { kind: 'release'; worker: number; hold: number; amount: number; empty: boolean }
  | { kind: 'fold'; worker: number; hold: number; amount: number }
  | { kind: 'replay'; worker: number; hold: number; back: number; amount: number }
  | { kind: 'rerelease'; worker: number; hold: number; amount: number }
  | { kind: 'complete'; worker: number }
  | { kind: 'lock'; worker: number; resource: number }
  | { kind: 'unlock'; worker: number }
  | { kind: 'recover'; worker: number; dead: number }
  | { kind: 'orphan'; worker: number; dead: number; hold: number; amount: number; end: boolean }

const worker = fc.integer({ min: 0, max: WORKERS - 1 })
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('acquire'),
    worker,
    resource: fc.nat(RESOURCES.length - 1),
    // Every update kind in one program (a model with every field kind, a 2-sum model, a custom
    // update), so a resource may even see a delta of another kind than its first one.
    type: fc.constantFrom<UpdateKind>('widget', 'counters', 'everything'),
  }),
  fc.record({
    kind: fc.constant('release'),
    worker,
    hold: fc.nat(3),
    amount: fc.integer({ min: 1, max: 9 }),
    empty: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('fold'),
    worker,
    hold: fc.nat(3),
    amount: fc.integer({ min: 1, max: 9 }),
  }),
  // A fold of a released hold: a replay `back` steps below its final one (0: past it).
  fc.record({
    kind: fc.constant('replay'),
    worker,
    hold: fc.nat(3),
    back: fc.nat(2),
    amount: fc.integer({ min: 1, max: 9 }),
  }),
  // A release of a released hold sent again (a logged round replayed), maybe after its claim
  // was completed.
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('rerelease'),
      worker,
      hold: fc.nat(3),
      amount: fc.integer({ min: 1, max: 9 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('complete'), worker }) },
  fc.record({ kind: fc.constant('lock'), worker, resource: fc.nat(RESOURCES.length - 1) }),
  fc.record({ kind: fc.constant('unlock'), worker }),
  fc.record({ kind: fc.constant('recover'), worker, dead: worker }),
  // A fold or release of a dead worker's hold, from its log, applied by a live worker.
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('orphan'),
      worker,
      dead: worker,
      hold: fc.nat(3),
      amount: fc.integer({ min: 1, max: 9 }),
      end: fc.boolean(),
    }),
  },
) as fc.Arbitrary<Op>

/** What a program observes; epochs are compared by order, not value. */
type Trace = unknown[]

interface World {
  workers: Shard[]
  recover(by: number, dead: number): Promise<void>
  close(): Promise<void>
}

function summarize(claim: Claim): unknown {
  const update = claim.update as Update & Partial<ModelUpdate>
  return { resource: claim.resourceId, total: update.aggregate ? update.aggregate() : update.doc }
}

async function runProgram(ops: readonly Op[], world: World, executed: Claim[]): Promise<Trace> {
  const trace: Trace = []
  const holds: Array<Array<{ hold: Hold; type: UpdateKind; id: string }>> = world.workers.map(
    () => [],
  )
  const released: Array<Array<{ hold: Hold; type: UpdateKind; id: string }>> = world.workers.map(
    () => [],
  )
  const claims: Claim[][] = world.workers.map(() => [])
  const locks: Array<Array<{ release(): Promise<void>; fencingToken: number }>> = world.workers.map(
    () => [],
  )
  const dead = new Set<number>()
  const delta = (type: UpdateKind, id: string, amount: number): Update => {
    if (type === 'widget') return Widget.create({ id, clicks: amount })
    if (type === 'counters') return new Counters({ id, collection: 'c', doc: { n: amount } })
    const pick = member[amount % member.length] as string
    return Everything.create({
      id,
      count: amount,
      big: BigInt(amount) * 2n ** 55n,
      taken: amount,
      best: amount % 5,
      worst: -amount,
      email: { at: amount % 3, value: pick },
      log: [pick],
      tags: [pick],
      visitors: [pick],
      top: [[amount % 4, pick]],
      byCountry: { [pick]: amount },
    })
  }
  const lastFence = new Map<string, number>()

  for (const o of ops) {
    if (dead.has(o.worker)) continue
    const shard = world.workers[o.worker] as Shard
    const mine = holds[o.worker] as Array<{ hold: Hold; type: UpdateKind; id: string }>
    try {
      switch (o.kind) {
        case 'acquire': {
          const id = RESOURCES[o.resource] as string
          const hold = await shard.acquire(delta(o.type, id, 0))
          mine.push({ hold, type: o.type, id })
          trace.push(['acquire', await shard.count(hold.resourceId)])
          break
        }
        case 'release':
        case 'fold': {
          const entry = mine[o.hold % Math.max(1, mine.length)]
          if (!entry) break
          const d =
            o.kind === 'release' && o.empty ? undefined : delta(entry.type, entry.id, o.amount)
          if (o.kind === 'fold') {
            const { hold, ...folded } = await shard.fold(entry.hold, d as Update)
            entry.hold = hold
            trace.push(['fold', folded])
            break
          }
          mine.splice(mine.indexOf(entry), 1)
          ;(released[o.worker] as Array<(typeof mine)[number]>).push(entry)
          const result = await shard.release(entry.hold, d)
          if (result.last) (claims[o.worker] as Claim[]).push(result.claim)
          trace.push(['release', result.last ? summarize(result.claim) : result.reason])
          trace.push(['count', await shard.count(entry.hold.resourceId)])
          break
        }
        case 'replay': {
          const gone = released[o.worker] as Array<(typeof mine)[number]>
          const entry = gone[o.hold % Math.max(1, gone.length)]
          if (!entry) break
          const hold = { ...entry.hold, step: Math.max(0, entry.hold.step - o.back) }
          const [result] = await shard.foldMany([[hold, delta(entry.type, entry.id, o.amount)]])
          trace.push([
            'replay',
            result instanceof ResourceError ? result.code : { ...result, hold: result?.hold.step },
          ])
          trace.push(['modified', await shard.timesModified(hold.resourceId)])
          break
        }
        case 'rerelease': {
          const gone = released[o.worker] as Array<(typeof mine)[number]>
          const entry = gone[o.hold % Math.max(1, gone.length)]
          if (!entry) break
          const result = await shard.release(entry.hold, delta(entry.type, entry.id, o.amount))
          if (result.last) (claims[o.worker] as Claim[]).push(result.claim)
          trace.push(['rerelease', result.last ? summarize(result.claim) : result.reason])
          trace.push(['modified', await shard.timesModified(entry.hold.resourceId)])
          break
        }
        case 'complete': {
          const claim = (claims[o.worker] as Claim[]).shift()
          if (!claim) break
          executed.push(claim)
          const next = await shard.completeExecution(claim)
          if (next) (claims[o.worker] as Claim[]).push(next)
          trace.push(['complete', next ? summarize(next) : null])
          break
        }
        case 'lock': {
          const resource = `c.${RESOURCES[o.resource]}`
          const handle = await shard.lock(resource)
          // Fencing tokens strictly increase per resource (their values are the server's clock).
          const increased = handle.fencingToken > (lastFence.get(resource) ?? 0)
          lastFence.set(resource, handle.fencingToken)
          ;(locks[o.worker] as Array<{ release(): Promise<void>; fencingToken: number }>).push(
            handle,
          )
          trace.push(['lock', increased])
          break
        }
        case 'unlock': {
          const handle = (locks[o.worker] as Array<{ release(): Promise<void> }>).shift()
          if (!handle) break
          await handle.release()
          trace.push(['unlock'])
          break
        }
        case 'orphan': {
          const theirs = holds[o.dead] as Array<(typeof mine)[number]>
          const entry = theirs[o.hold % Math.max(1, theirs.length)]
          if (!dead.has(o.dead) || !entry) break
          const d = delta(entry.type, entry.id, o.amount)
          if (o.end) {
            theirs.splice(theirs.indexOf(entry), 1)
            const result = await shard.release(entry.hold, d)
            if (result.last) (claims[o.worker] as Claim[]).push(result.claim)
            trace.push(['orphan release', result.last ? summarize(result.claim) : result.reason])
          } else {
            const [result] = await shard.foldMany([[entry.hold, d]])
            if (result instanceof ResourceError) throw result
            const { hold, claim, ...folded } = result as FoldResult
            entry.hold = hold
            if (claim) (claims[o.worker] as Claim[]).push(claim)
            trace.push(['orphan fold', folded, claim ? summarize(claim) : null])
          }
          trace.push(['count', await shard.count(entry.hold.resourceId)])
          break
        }
        case 'recover': {
          if (o.dead === o.worker) break
          dead.add(o.dead)
          // The dead worker's unexecuted claims are left for recovery to find.
          await world.recover(o.worker, o.dead)
          trace.push(['recover'])
          break
        }
      }
    } catch (error) {
      trace.push([
        'error',
        o.kind,
        error instanceof AlreadyLocked ? 'AlreadyLocked' : String(error),
      ])
    }
  }
  return trace
}

const redis = redisFixture()

describe('MemoryShard is the model of the Lua scripts', () => {
  it('random programs of several workers give the same trace on both', async () => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 10, maxLength: 60 }),
        fc.boolean(),
        async (ops, rememberExecuted) => {
          const namespace = `model${run++}`
          const memoryExecuted: Claim[] = []
          const redisExecuted: Claim[] = []
          const store = new MemoryStore()
          const memoryWorkers = Array.from(
            { length: WORKERS },
            (_, i) =>
              new MemoryShard({
                codec: codec(),
                store,
                workerId: `w${i}`,
                rememberExecuted,
                execute: (c) => void memoryExecuted.push(c),
              }),
          )
          const redisWorkers = await Promise.all(
            Array.from({ length: WORKERS }, (_, i) =>
              connect({
                nodes: [redis.server.url],
                codec: codec(),
                namespace,
                workerId: `w${i}`,
                heartbeatMs: 0,
                rememberExecuted,
                execute: (c) => void redisExecuted.push(c),
              }),
            ),
          )
          try {
            const memoryTrace = await runProgram(
              ops,
              {
                workers: memoryWorkers,
                recover: async (by, dead) =>
                  void (await memoryWorkers[by]?.recover(memoryWorkers[dead]?.incarnation ?? '')),
                close: async () => {},
              },
              memoryExecuted,
            )
            const redisTrace = await runProgram(
              ops,
              {
                workers: redisWorkers,
                recover: async (by, dead) =>
                  void (await redisWorkers[by]?.recovery.recover(
                    redisWorkers[dead]?.incarnation ?? '',
                  )),
                close: async () => {},
              },
              redisExecuted,
            )
            expect(redisTrace).toEqual(memoryTrace)
            expect(redisExecuted.map(summarize)).toEqual(memoryExecuted.map(summarize))
          } finally {
            await Promise.all(redisWorkers.map((shard) => shard.close()))
          }
        },
      ),
      { numRuns: 100 },
    )
  }, 120_000)
})
