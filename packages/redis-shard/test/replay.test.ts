/**
 * A dead worker's log replayed around its recovery (invariant 11 under invariant 4): worker A
 * acquires, folds and releases, its folds and releases going through a log (as
 * `@phonon/streams`' phonon source writes them) of which A applied a prefix before it died;
 * B replays the log from a point at or before that prefix (entries applied but not yet removed)
 * and recovers A at any point of the replay; C holds one resource throughout. Whatever the
 * order, each delta is executed once, nothing stays held or pending, and each epoch runs once:
 * on MemoryShard and on the Lua scripts alike.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Claim,
  connect,
  type Hold,
  MemoryShard,
  MemoryStore,
  type Shard,
} from '../src/index.js'
import { codec, redisFixture, Widget } from './shards.js'

const RESOURCES = ['Widget.a', 'Widget.b']

/** A's program: acquires go through at once; folds and releases are logged. */
type Step =
  | { kind: 'acquire'; resource: number }
  | { kind: 'fold' | 'release'; session: number; clicks: number }
  | { kind: 'apply' } // A applies what it logged so far

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('acquire' as const), resource: fc.nat(RESOURCES.length - 1) }),
  fc.record({
    kind: fc.constantFrom('fold' as const, 'release' as const),
    session: fc.nat(3),
    clicks: fc.integer({ min: 1, max: 9 }),
  }),
  fc.record({ kind: fc.constant('apply' as const) }),
)

type Logged = { kind: 'fold' | 'release'; session: number; clicks: number }

interface Shards {
  a: Shard
  b: Shard
  c: Shard
  /** B recovers A; claims found are executed through `execute`. */
  recover(): Promise<void>
}

/** Runs the scenario; returns the clicks executed per resource and each claim's epoch key. */
async function run(
  shards: Shards,
  program: readonly Step[],
  replayFrom: number,
  recoverAt: number,
  executed: Claim[],
): Promise<{ offered: Map<string, number> }> {
  const { a, b, c } = shards
  const offered = new Map<string, number>()
  const offer = (id: string, clicks: number) => offered.set(id, (offered.get(id) ?? 0) + clicks)
  // Completes every claim, and what completing hands back.
  const executeAll = async (shard: Shard, claims: Claim[]) => {
    while (claims.length > 0) {
      const claim = claims.shift() as Claim
      executed.push(claim)
      const next = await shard.completeExecution(claim)
      if (next) claims.push(next)
    }
  }
  // C holds resource 0 throughout, folding once.
  let cHold = await c.acquire(Widget.create({ id: 'a', clicks: 0 }))
  cHold = (await c.fold(cHold, Widget.create({ id: 'a', clicks: 100 }))).hold
  offer('Widget.a', 100)

  // A runs its program: the log holds each fold or release with the hold it is sent with.
  const sessions: Hold[] = []
  const ended = new Set<number>()
  const log: Array<{ hold: Hold; op: Logged }> = []
  let applied = 0
  const apply = async (shard: Shard, entry: { hold: Hold; op: Logged }) => {
    const delta = Widget.create({ id: entry.hold.resourceId.slice(7), clicks: entry.op.clicks })
    if (entry.op.kind === 'fold') {
      const [result] = await shard.foldMany([[entry.hold, delta]])
      if (result instanceof Error) throw result
      if (result?.claim) await executeAll(shard, [result.claim])
    } else {
      const result = await shard.release(entry.hold, delta)
      if (result.last) await executeAll(shard, [result.claim])
    }
  }
  for (const s of program) {
    if (s.kind === 'acquire')
      sessions.push(
        await a.acquire(
          Widget.create({ id: RESOURCES[s.resource]?.slice(7) as string, clicks: 0 }),
        ),
      )
    else if (s.kind === 'apply') {
      for (; applied < log.length; applied++) await apply(a, log[applied] as (typeof log)[number])
    } else {
      const open = sessions.map((_, i) => i).filter((i) => !ended.has(i))
      if (open.length === 0) continue
      const session = open[s.session % open.length] as number
      const hold = sessions[session] as Hold
      log.push({ hold, op: s })
      offer(hold.resourceId, s.clicks)
      if (s.kind === 'fold') sessions[session] = { ...hold, step: hold.step + 1 }
      else ended.add(session)
    }
  }
  // A dies. B replays from an entry at or before what A applied, recovering A at `recoverAt`.
  const replay = log.slice(Math.min(replayFrom, applied))
  const at = Math.min(recoverAt, replay.length)
  for (const [i, entry] of replay.entries()) {
    if (i === at) await shards.recover()
    await apply(b, entry)
  }
  if (at === replay.length) await shards.recover()
  // Sessions A never ended are not in its log: the records behind them are read again by
  // another worker (here: offered by nobody). C ends its session last.
  const last = await c.release(cHold)
  if (last.last) await executeAll(c, [last.claim])
  return { offered }
}

/** Clicks executed per resource. */
function totals(executed: readonly Claim[]): Map<string, number> {
  const sums = new Map<string, number>()
  for (const claim of executed) {
    const { clicks } = (claim.update as unknown as { aggregate(): { clicks: number } }).aggregate()
    if (clicks > 0) sums.set(claim.resourceId, (sums.get(claim.resourceId) ?? 0) + clicks)
  }
  return sums
}

const redis = redisFixture()

describe('a dead worker’s log replayed around its recovery', () => {
  for (const backend of ['memory', 'redis'] as const) {
    it(`executes each delta once, nothing left held or pending (${backend})`, async () => {
      let run_ = 0
      await fc.assert(
        fc.asyncProperty(
          fc.array(step, { minLength: 4, maxLength: 30 }),
          fc.nat(30),
          fc.nat(30),
          async (program, replayFrom, recoverAt) => {
            const executed: Claim[] = []
            const shards = await open(backend, `replay${run_++}`, executed)
            try {
              const { offered } = await run(shards, program, replayFrom, recoverAt, executed)
              const keys = executed.map((claim) => `${claim.resourceId}@${claim.epoch}`)
              expect(new Set(keys).size, 'an epoch executed twice').toBe(keys.length)
              expect(totals(executed)).toEqual(offered)
              for (const id of RESOURCES) {
                expect(await shards.b.count(id), `${id} left held`).toBe(0)
                expect(await shards.b.timesModified(id), `${id} left pending`).toBe(0)
              }
            } finally {
              await Promise.all([shards.a.close(), shards.b.close(), shards.c.close()])
            }
          },
        ),
        { numRuns: backend === 'memory' ? 300 : 100 },
      )
    }, 120_000)
  }
})

/** Workers A, B and C on one backend; claims recovery finds are executed into `executed`. */
async function open(
  backend: 'memory' | 'redis',
  namespace: string,
  executed: Claim[],
): Promise<Shards> {
  const execute = (claim: Claim) => void executed.push(claim)
  if (backend === 'memory') {
    const store = new MemoryStore()
    const [a, b, c] = ['a', 'b', 'c'].map(
      (workerId) =>
        new MemoryShard({ codec: codec(), store, workerId, rememberExecuted: true, execute }),
    ) as [MemoryShard, MemoryShard, MemoryShard]
    return { a, b, c, recover: async () => void (await b.recover(a.incarnation)) }
  }
  const [a, b, c] = await Promise.all(
    ['a', 'b', 'c'].map((workerId) =>
      connect({
        nodes: [redis.server.url],
        codec: codec(),
        namespace,
        workerId,
        heartbeatMs: 0,
        rememberExecuted: true,
        execute,
      }),
    ),
  )
  return {
    a: a as Shard,
    b: b as Shard,
    c: c as Shard,
    recover: async () => void (await b?.recovery.recover(a?.incarnation ?? '')),
  }
}
