import {
  ArgumentError,
  Codec,
  ConflictFreeUpdate,
  counterMap,
  defineModel,
  id,
  ModelUpdate,
  sum,
  type Update,
  updateType,
} from '@phonon/core'
import { waitFor } from '@phonon/testkit'
import { expect } from 'vitest'
import type { Claim, Hold, ReleaseResult, Shard } from '../../src/index.js'

/** The fault tests' model: two numeric fields and a collection field (its own Redis key). */
export const Tally = defineModel('Tally', {
  id: id(),
  clicks: sum(),
  views: sum(),
  byCountry: counterMap(),
})

/** The second kind of update: custom, travels encoded and is merged by the last holder. */
export class Doc extends ConflictFreeUpdate {
  execute(): void {}
}

/** A codec of both kinds. */
export const faultCodec = () => new Codec([Tally, updateType('Doc', Doc)])

/** Every number an update carries, flattened: `clicks`, `byCountry.fr`, `doc.n`. */
export type Totals = Record<string, number>

/** The numbers of an update (or of a claim's global aggregate), zeros left out. */
export function totalsOf(update: Update): Totals {
  const totals: Totals = {}
  const add = (name: string, value: number) => {
    if (value !== 0) totals[name] = (totals[name] ?? 0) + value
  }
  if (update instanceof ModelUpdate) {
    for (const [name, value] of Object.entries(update.aggregate() as Record<string, unknown>)) {
      if (typeof value === 'number') add(name, value)
      else if (value !== null && typeof value === 'object')
        for (const [key, n] of Object.entries(value)) add(`${name}.${key}`, Number(n))
    }
  } else if (update instanceof ConflictFreeUpdate) {
    for (const [key, n] of Object.entries(update.doc)) add(`doc.${key}`, n)
  }
  return totals
}

function addInto(into: Map<string, Totals>, resourceId: string, totals: Totals): void {
  const row = into.get(resourceId) ?? {}
  for (const [name, n] of Object.entries(totals)) {
    row[name] = (row[name] ?? 0) + n
    if (row[name] === 0) delete row[name]
  }
  into.set(resourceId, row)
}

/** One execution as a sink sees it. */
export interface Execution {
  readonly resourceId: string
  readonly epoch: number
  readonly totals: Totals
}

/**
 * What was offered (acknowledged by the shard) and what was executed, per resource; executions
 * deduplicated by `(resource, epoch)` as a sink does, repeats kept for the assertions.
 */
export class Ledger {
  readonly offered = new Map<string, Totals>()
  readonly executions = new Map<string, Execution>()
  /** `(resource, epoch)` executed again: with the same totals, or (a bug) different ones. */
  readonly repeats: Array<{ execution: Execution; first: Execution }> = []

  offer(update: Update): Update {
    addInto(this.offered, update.resourceId, totalsOf(update))
    return update
  }

  /** Adds offered totals recorded elsewhere (by another process). */
  offerTotals(resourceId: string, totals: Totals): void {
    addInto(this.offered, resourceId, totals)
  }

  execute(claim: Claim): void {
    this.record({
      resourceId: claim.resourceId,
      epoch: claim.epoch,
      totals: totalsOf(claim.update),
    })
  }

  record(execution: Execution): void {
    const key = `${execution.resourceId}@${execution.epoch}`
    const first = this.executions.get(key)
    if (first) this.repeats.push({ execution, first })
    else this.executions.set(key, execution)
  }

  /** Executed totals per resource, each `(resource, epoch)` once. */
  executed(): Map<string, Totals> {
    const executed = new Map<string, Totals>()
    for (const { resourceId, totals } of this.executions.values())
      addInto(executed, resourceId, totals)
    return executed
  }

  /** The epochs executed per resource, in the order they were first executed. */
  epochs(resourceId: string): number[] {
    return [...this.executions.values()]
      .filter((execution) => execution.resourceId === resourceId)
      .map((execution) => execution.epoch)
  }
}

/** Resources with nonzero totals, sorted, for `toEqual`. */
export function table(totals: Map<string, Totals>): Array<[string, Totals]> {
  return [...totals]
    .filter(([, row]) => Object.keys(row).length > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/**
 * Invariants 1–2 over a ledger: the executed totals equal the offered ones per resource, and no
 * `(resource, epoch)` was executed twice (unless `repeatsAllowed`: then a repeat must carry the
 * same totals, which the sink's dedupe makes harmless).
 */
export function expectExact(ledger: Ledger, { repeatsAllowed = false } = {}): void {
  expect(table(ledger.executed())).toEqual(table(ledger.offered))
  if (repeatsAllowed) {
    for (const { execution, first } of ledger.repeats) expect(execution).toEqual(first)
  } else expect(ledger.repeats.map(({ execution }) => execution)).toEqual([])
}

/**
 * Retries an operation that failed because the shard could not be reached (a cut connection, a
 * lost reply), as `@phonon/lru-update` does: the same call with the same arguments, with
 * exponential backoff, until `deadlineMs`. Bad input (`ArgumentError`) is not retried.
 *
 * @throws the last error once the deadline passed.
 */
export async function retry<T>(what: string, attempt: () => Promise<T>, deadlineMs = 30_000) {
  const deadline = Date.now() + deadlineMs
  for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
    try {
      return await attempt()
    } catch (error) {
      if (error instanceof ArgumentError || Date.now() > deadline)
        throw new Error(`${what} kept failing: ${(error as Error).message}`, { cause: error })
    }
    await new Promise((resolve) => setTimeout(resolve, delay))
  }
}

/** The shard API the fault tests need beyond `Shard` where v3 differs from v2 (see below). */
type Minting = Shard & { newHold?: (target: Update) => Hold }

/**
 * Starts a session and returns its hold, retrying. With a shard that mints holds before the first
 * attempt (`newHold`), a retry re-acquires the same hold; otherwise each attempt is a new one.
 */
export async function openSession(shard: Shard, target: Update): Promise<Hold> {
  const minting = shard as Minting
  if (minting.newHold) {
    const hold = minting.newHold(target)
    return retry(`acquire ${target.resourceId}`, () => shard.acquire(hold as never))
  }
  return retry(`acquire ${target.resourceId}`, () => shard.acquire(target))
}

/** Folds under a hold, retrying; returns the hold to use next. */
export async function foldSession(shard: Shard, hold: Hold, delta: Update): Promise<Hold> {
  const result = await retry(`fold ${hold.resourceId}`, () => shard.fold(hold, delta))
  return (result as { hold?: Hold }).hold ?? hold
}

/** Where claims are executed: a ledger, or a line to the parent process. */
export interface Sink {
  execute(claim: Claim): void | Promise<void>
}

/**
 * Executes a claim into the sink, completes it, and follows the next claims `completeExecution`
 * hands back, retrying each completion.
 */
export async function executeAll(shard: Shard, first: Claim | undefined, sink: Sink) {
  for (let claim = first; claim; ) {
    await sink.execute(claim)
    const done: Claim = claim
    claim = await retry(`complete ${done.resourceId}@${done.epoch}`, () =>
      shard.completeExecution(done),
    )
  }
}

/** Ends a session, retrying; executes what it claims. */
export async function endSession(
  shard: Shard,
  hold: Hold,
  delta: Update | undefined,
  sink: Sink,
): Promise<ReleaseResult> {
  const result = await retry(`release ${hold.resourceId}`, () => shard.release(hold, delta))
  if (result.last) await executeAll(shard, result.claim, sink)
  return result
}

/**
 * Every resource is idle now: no holder (`count` 0), and a probe session ends `empty` — not `held`
 * (a stray holder), not `pending` (a claim nobody completes), not `last` (a delta never executed).
 * For tests where no worker died: nothing may be left to recover.
 */
export async function expectIdle(probe: Shard, resources: readonly Update[]): Promise<void> {
  for (const resource of resources) {
    expect(await probe.count(resource.resourceId), `${resource.resourceId} holders`).toBe(0)
    const hold = await openSession(probe, resource)
    const result = await probe.release(hold)
    expect(result, resource.resourceId).toMatchObject({ last: false, reason: 'empty' })
  }
}

/** Why a resource is not idle yet, or `undefined` when it is (see {@link expectIdle}). */
async function notIdle(probe: Shard, resource: Update, sink: Sink): Promise<string | undefined> {
  const holders = await probe.count(resource.resourceId)
  if (holders !== 0) return `${resource.resourceId}: ${holders} holders`
  const result = await probe.release(await openSession(probe, resource))
  if (!result.last)
    return result.reason === 'empty' ? undefined : `${resource.resourceId}: ${result.reason}`
  // A claim whose owner died, taken over by the probe's release: executed like any other.
  await executeAll(probe, result.claim, sink)
  return `${resource.resourceId}: a claim taken over by the probe`
}

/**
 * Every resource becomes idle within `timeoutMs`, as recovery of dead workers and expiry of their
 * leases allow: no holder, no claim nobody completes (the probe executes into `sink` a claim it
 * takes over, then looks again). For tests where workers died; check the sink again after it.
 *
 * @throws Error naming the resource still not idle at the deadline, and why.
 */
export async function expectEventuallyIdle(
  probe: Shard,
  resources: readonly Update[],
  sink: Sink,
  timeoutMs = 30_000,
): Promise<void> {
  let why: string | undefined
  await waitFor(
    'every resource idle',
    async () => {
      for (const resource of resources) {
        why = await notIdle(probe, resource, sink)
        if (why !== undefined) return false
      }
      return true
    },
    timeoutMs,
  ).catch((error: Error) => {
    throw new Error(`${error.message}: ${why}`, { cause: error })
  })
}
