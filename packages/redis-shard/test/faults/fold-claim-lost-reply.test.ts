import { createHash } from 'node:crypto'
import type { Update } from '@phonon/core'
import {
  type FaultProxy,
  type ProxiedCommand,
  type RedisServer,
  startFaultProxy,
  startRedis,
} from '@phonon/testkit'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Claim, connect, type Hold, type RedisShard } from '../../src/index.js'
import { resourceKey } from '../../src/keys.js'
import { scriptSource } from '../../src/scripts.js'
import { executeAll, expectExact, expectIdle, faultCodec, Ledger, retry, Tally } from './ledger.js'

/**
 * A fold claim's reply lost (invariant 11 on the replay path of invariant 12): worker A folds
 * under a hold and dies with more folds (and maybe its release) in its log; B recovers A (the
 * hold is evicted) and replays the log through a fault-injecting proxy. A replayed fold that
 * leaves the resource idle claims it (`FoldResult.claim`, claim tag `f:<token>:<step>`); the
 * proxy drops the reply of such a fold after Redis ran it, and others at random positions.
 * - same worker: ioredis sends the fold again on its new connection (or the test's retry does):
 *   the retry must get the claim the lost reply carried — same epoch — not a new one, and not a
 *   bare "applied" that leaves the claim to nobody;
 * - handover: B dies right after the lost reply; C replays the log from an earlier entry and
 *   recovers B before, during or after the replay: the claim B owned is executed once, by C's
 *   replay (the retry returns it) or by C's recovery (taken over, same epoch).
 * Afterwards: sum executed == sum offered, each (resource, epoch) executed once, the resource
 * neither held nor pending nor claimed.
 */

const RUNS = Number(process.env.FAULTS_RUNS ?? 100)
const FOLD_SHA = createHash('sha1').update(scriptSource('fold.lua')).digest('hex')

interface Plan {
  /** Folds A applied before it died (their sum is recovered by B's recovery of A). */
  readonly applied: readonly number[]
  /** Folds in A's log, not applied (B replays them). */
  readonly logged: readonly number[]
  /** Whether A's release (with this delta) is in the log too. */
  readonly release: number | null
  /** Which logged fold's claim reply is lost (modulo the claiming folds). */
  readonly lostAt: number
  /** B executes each fold's claim at once (else at the end of the replay, as a round does). */
  readonly immediate: boolean
  /** Other scripts of the replay whose replies are dropped (indices). */
  readonly drops: readonly number[]
  /** B dies after the lost reply and C takes over (else B retries). */
  readonly handover: boolean
  /** C replays from this log entry (at most the lost fold's). */
  readonly replayFrom: number
  /** C recovers B before this entry of its replay (past the end: after it). */
  readonly recoverAt: number
}

const clicks = fc.integer({ min: 1, max: 9 })
const plan: fc.Arbitrary<Plan> = fc.record({
  applied: fc.array(clicks, { maxLength: 2 }),
  logged: fc.array(clicks, { minLength: 1, maxLength: 4 }),
  release: fc.option(clicks),
  lostAt: fc.nat(3),
  immediate: fc.boolean(),
  drops: fc.uniqueArray(fc.nat(20), { maxLength: 3 }),
  handover: fc.boolean(),
  replayFrom: fc.nat(4),
  recoverAt: fc.nat(6),
})

const ID = 't'
const update = (n: number): Update =>
  Tally.create({ id: ID, clicks: n, views: 2 * n, byCountry: { fr: n } })

/**
 * The scripts (fold, release, complete) may lose their replies; nothing else does. (A lost reply
 * of the registry write pipelined before a fold would cut the connection before the fold's own
 * reply, which `failNext` then never sees.)
 */
const faultable = (command: ProxiedCommand) => command.name === 'EVALSHA' || command.name === 'EVAL'

/** The fold of `token` at `step`: the script's EVALSHA (or its EVAL fallback) carrying both. */
const foldOf = (token: string, step: number) => (command: ProxiedCommand) => {
  if (command.name !== 'EVALSHA' && command.name !== 'EVAL') return false
  if (command.name === 'EVALSHA' && command.args[0] !== FOLD_SHA) return false
  if (command.name === 'EVAL' && !command.args[0]?.includes('fold: fold a partial')) return false
  const at = command.args.indexOf(token)
  return at > 0 && command.args[at + 1] === String(step)
}

let server: RedisServer
beforeAll(async () => {
  server = await startRedis()
})
afterAll(async () => {
  await server?.stop()
})

type Entry = { kind: 'fold' | 'release'; hold: Hold; delta: Update }

async function run(p: Plan, namespace: string): Promise<void> {
  const ledger = new Ledger()
  const execute = (claim: Claim) => ledger.execute(claim)
  const options = {
    codec: faultCodec(),
    namespace,
    heartbeatMs: 0,
    rememberExecuted: true,
    execute,
    redis: { retryStrategy: () => 10 },
  }
  const proxies: FaultProxy[] = []
  const shards: RedisShard[] = []
  const through = async (workerId: string) => {
    const proxy = await startFaultProxy({ target: server })
    proxies.push(proxy)
    const shard = await connect({ ...options, nodes: [proxy.url], workerId })
    shards.push(shard)
    return { proxy, shard }
  }
  try {
    // A: a hold, folds applied, then a log of folds (and maybe the release) it never applied.
    const a = await connect({ ...options, nodes: [server.url], workerId: 'a' })
    shards.push(a)
    let hold = await a.acquire(Tally.create({ id: ID }))
    for (const n of p.applied) hold = (await a.fold(hold, ledger.offer(update(n)))).hold
    const log: Entry[] = []
    for (const n of p.logged) {
      log.push({ kind: 'fold', hold, delta: ledger.offer(update(n)) })
      hold = { ...hold, step: hold.step + 1 }
    }
    if (p.release !== null)
      log.push({ kind: 'release', hold, delta: ledger.offer(update(p.release)) })

    // B recovers A (executing what A's applied folds left), then replays the log through its
    // proxy. Which folds claim: the first (a claim left unexecuted keeps the resource claimed),
    // or each (a claim executed at once leaves it idle again).
    const b = await through('b')
    await b.shard.recovery.recover(a.incarnation)
    const claiming = p.immediate ? p.logged.length : 1
    const lost = p.lostAt % claiming
    const lostFold = log[lost] as Entry
    const key = resourceKey(namespace, `Tally.${ID}`)
    // Drops the reply of the chosen fold (its claim) and of a few other commands at random.
    let seen = 0
    b.proxy.policy = (command) =>
      faultable(command) && p.drops.includes(seen++) && !p.handover ? 'drop-reply' : 'pass'
    const lostReply = b.proxy.failNext(
      'drop-reply',
      foldOf(lostFold.hold.token, lostFold.hold.step + 1),
    )
    let claimInRedis: Record<string, string> | undefined
    const observed = lostReply.then(async () => {
      // Redis ran the fold: what it claimed, read directly while B cannot reconnect.
      b.proxy.refuse()
      claimInRedis = await server.command('HGETALL', key).then(fields)
      if (!p.handover) b.proxy.allow() // else B is dead: it never gets through again
    })
    const deferred: Claim[] = []
    /** What a retry of the lost fold must answer: its claim (`e`: the epoch in Redis) or none. */
    let expectClaim = true
    const applyAll = async (shard: RedisShard, entries: readonly Entry[], retrying = true) => {
      const again = <T>(what: string, attempt: () => Promise<T>) =>
        retrying ? retry(what, attempt) : attempt()
      for (const entry of entries) {
        if (entry.kind === 'fold') {
          const result = await again('fold', () => shard.fold(entry.hold, entry.delta))
          if (entry === lostFold) {
            await observed
            // Redis ran the fold whose reply was lost: a retry (ioredis' resend, the retry
            // above, or another worker's replay) answers with the claim that fold made.
            expect(claimInRedis, 'the lost fold ran').toBeDefined()
            // After C's recovery of B: none once the recovery completed that claim; the same
            // claim while it has not (a reply of the recovery lost, the recovery retried).
            if (expectClaim || result.claim)
              expect(result.claim?.epoch).toBe(Number(claimInRedis?.e))
          }
          if (result.claim) {
            if (p.immediate) await executeAll(shard, result.claim, ledger)
            else deferred.push(result.claim)
          }
        } else {
          const result = await again('release', () => shard.release(entry.hold, entry.delta))
          if (result.last) await executeAll(shard, result.claim, ledger)
        }
      }
      while (deferred.length > 0) await executeAll(shard, deferred.shift(), ledger)
    }
    const claimTag = `f:${lostFold.hold.token}:${lostFold.hold.step + 1}`

    if (!p.handover) {
      await applyAll(b.shard, log)
      await observed
      expect(claimInRedis?.k, 'the lost fold claimed').toBe(claimTag)
    } else {
      // B replays up to the lost fold and dies there: its reply never comes, it never retries.
      const dying = applyAll(b.shard, log.slice(0, lost + 1), false).then(
        () => 'survived',
        () => 'died',
      )
      await observed
      for (const client of b.shard.router.clients) client.disconnect()
      shards.splice(shards.indexOf(b.shard), 1) // dead: not closed (close would wait on Redis)
      expect(await dying).toBe('died')
      expect(claimInRedis?.k, 'the lost fold claimed').toBe(claimTag)
      // C, through a proxy dropping replies at random, replays from an earlier entry (B never
      // removed the log) and recovers B (dead: its claim is taken over, same epoch).
      const c = await through('c')
      seen = 0
      c.proxy.policy = (command) =>
        faultable(command) && p.drops.includes(seen++) ? 'drop-reply' : 'pass'
      const replay = log.slice(Math.min(p.replayFrom, lost))
      const at = Math.min(p.recoverAt, replay.length)
      await applyAll(c.shard, replay.slice(0, at))
      // Under the same faults: a lost reply is sent again (or the call retried), and the
      // recovery lock this recoverer took already is its own.
      const recovered = () => c.shard.recovery.recover(b.shard.incarnation)
      expect(await retry(`recover ${b.shard.incarnation}`, recovered)).toBe(true)
      expectClaim = false
      await applyAll(c.shard, replay.slice(at))
    }
    // A session never released (the release not in the log) is evicted: what it folded is
    // claimed by its last evicted fold or by recovery, executed above.
    expectExact(ledger)
    const probe = await connect({ ...options, nodes: [server.url], workerId: 'probe' })
    shards.push(probe)
    await expectIdle(probe, [Tally.create({ id: ID })])
  } finally {
    for (const proxy of proxies) {
      proxy.policy = () => 'pass'
      proxy.allow()
    }
    await Promise.allSettled(shards.map((shard) => shard.close()))
    await Promise.allSettled(proxies.map((proxy) => proxy.close()))
  }
}

/** A RESP array of field, value pairs as an object. */
function fields(reply: unknown): Record<string, string> {
  const list = reply as string[]
  const out: Record<string, string> = {}
  for (let i = 0; i < list.length; i += 2) out[String(list[i])] = String(list[i + 1])
  return out
}

describe('a fold claim’s reply lost through the fault proxy', () => {
  it('the retry (same worker, or another after recovery) gets the same claim, executed once; nothing left', async () => {
    let runs = 0
    await fc.assert(
      fc.asyncProperty(
        process.env.FOLD_PLAN ? fc.constant(JSON.parse(process.env.FOLD_PLAN)) : plan,
        (p) => run(p, `foldlost${++runs}`),
      ),
      { numRuns: RUNS, endOnFailure: !process.env.FAULTS_SHRINK },
    )
  }, 120_000)
})
