import type { Update } from '@phonon/core'
import { type Random, seededRandom } from '@phonon/testkit'
import { expect } from 'vitest'
import type { Shard } from '../../src/index.js'
import {
  Doc,
  endSession,
  foldSession,
  type Ledger,
  openSession,
  type Sink,
  Tally,
  type Totals,
  totalsOf,
} from './ledger.js'

/**
 * Tagged deltas, for tests where a process or Redis dies with operations in flight: each delta
 * carries a unique tag counted once (a `byCountry` key of a Tally, a doc key of a Doc) besides its
 * numbers, so the executions tell exactly which deltas reached the sink and how often. An
 * operation in flight at a crash may or may not have been applied; one acknowledged must be.
 */

/** The resources of the tagged workloads: `Tally.t<i>` and `Doc.d<i>`. */
export function resourceUpdate(index: number, withDoc: boolean): Update {
  return withDoc && index % 2 === 1
    ? new Doc({ id: `d${index}`, collection: 'Doc', doc: {} })
    : Tally.create({ id: `t${index}` })
}

/** A delta for the resource of `base` carrying `tag` and a few random numbers. */
export function taggedDelta(base: Update, tag: string, random: Random): Update {
  const n = 1 + Math.floor(random() * 5)
  if (base instanceof Doc) return new Doc({ id: base.id, collection: 'Doc', doc: { [tag]: 1, n } })
  return Tally.create({
    id: base.id,
    clicks: n,
    views: Math.floor(random() * 3),
    byCountry: { [tag]: 1 },
  })
}

/** A delta's tag, the one key of its totals that is a tag. */
export function tagOf(totals: Totals): string | undefined {
  return Object.keys(totals)
    .find((key) => key.includes('.o:'))
    ?.replace(/^[^.]+\./, '')
}

/** What a process tried and what was acknowledged, by tag. */
export class Tags {
  readonly tried = new Map<string, { resourceId: string; totals: Totals }>()
  readonly acked = new Set<string>()

  try(delta: Update): string {
    const totals = totalsOf(delta)
    const tag = tagOf(totals) as string
    this.tried.set(tag, { resourceId: delta.resourceId, totals })
    return tag
  }

  tryTotals(tag: string, resourceId: string, totals: Totals): void {
    this.tried.set(tag, { resourceId, totals })
  }

  ack(tag: string): void {
    this.acked.add(tag)
  }
}

/** How often each tag was executed, over the ledger's executions (each `(resource, epoch)` once). */
export function executedTags(ledger: Ledger): Map<string, number> {
  const counts = new Map<string, number>()
  for (const { totals } of ledger.executions.values()) {
    for (const [key, n] of Object.entries(totals)) {
      if (!key.includes('.o:')) continue
      const tag = key.replace(/^[^.]+\./, '')
      counts.set(tag, (counts.get(tag) ?? 0) + n)
    }
  }
  return counts
}

/** Whether every acknowledged tag (except `lost`) has been executed: for polling. */
export function allAckedExecuted(ledger: Ledger, tags: Tags, lost?: (tag: string) => boolean) {
  const executed = executedTags(ledger)
  return [...tags.acked].every((tag) => lost?.(tag) || (executed.get(tag) ?? 0) >= 1)
}

/**
 * The exactness of a crash test, per delta: no tag executed twice or made up; every acknowledged
 * tag executed, unless `lost` says it may be (what Redis held when it lost its data); tags in
 * flight at a crash executed at most once; and the numbers executed per resource are exactly
 * those of the tags executed. A repeated `(resource, epoch)` (re-run after its executor died)
 * must carry the same totals: the sink dedupes it.
 *
 * @returns the tags executed.
 */
export function expectTagged(
  ledger: Ledger,
  tags: Tags,
  lost?: (tag: string) => boolean,
): Map<string, number> {
  for (const { execution, first } of ledger.repeats) expect(execution).toEqual(first)
  const executed = executedTags(ledger)
  const twice = [...executed].filter(([, n]) => n !== 1)
  expect(twice, 'tags executed more than once').toEqual([])
  const unknown = [...executed.keys()].filter((tag) => !tags.tried.has(tag))
  expect(unknown, 'tags executed but never offered').toEqual([])
  const missing = [...tags.acked].filter((tag) => !executed.has(tag) && !lost?.(tag))
  expect(missing, 'acknowledged tags never executed').toEqual([])
  // The numbers: per resource, what was executed is the sum of the executed tags' numbers.
  const expected = new Map<string, Totals>()
  for (const tag of executed.keys()) {
    const { resourceId, totals } = tags.tried.get(tag) as { resourceId: string; totals: Totals }
    const row = expected.get(resourceId) ?? {}
    for (const [key, n] of Object.entries(totals)) row[key] = (row[key] ?? 0) + n
    expected.set(resourceId, row)
  }
  const sorted = (m: Map<string, Totals>) =>
    [...m].filter(([, row]) => Object.keys(row).length > 0).sort(([a], [b]) => (a < b ? -1 : 1))
  expect(sorted(ledger.executed())).toEqual(sorted(expected))
  return executed
}

/** What {@link sessionLoop} reports and asks. */
export interface LoopHooks {
  /** A tagged delta is about to be sent. */
  tried(tag: string, delta: Update): void
  /** The shard acknowledged it. */
  acked(tag: string): void
  /** Whether to stop after the current session. */
  stopped(): boolean
}

/**
 * Random sessions until `stopped()`: a resource among `resources`, acquired, half the time a
 * tagged fold, then a release with a tagged delta, executing what it claims into `sink` — each
 * call retried until it succeeds, as `@phonon/lru-update` does.
 */
export async function sessionLoop(
  shard: Shard,
  resources: readonly Update[],
  random: Random,
  tagPrefix: string,
  sink: Sink,
  hooks: LoopHooks,
): Promise<void> {
  let seq = 0
  const next = (resource: Update) => {
    const tag = `${tagPrefix}:${++seq}`
    const delta = taggedDelta(resource, tag, random)
    hooks.tried(tag, delta)
    return { delta, tag }
  }
  while (!hooks.stopped()) {
    const resource = resources[Math.floor(random() * resources.length)] as Update
    let hold = await openSession(shard, resource)
    if (random() < 0.5) {
      const { delta, tag } = next(resource)
      hold = await foldSession(shard, hold, delta)
      hooks.acked(tag)
    }
    const { delta, tag } = next(resource)
    await endSession(shard, hold, delta, sink)
    hooks.acked(tag)
  }
}

/** Loop hooks that record into `tags`, stopping when `stopped()` says so. */
export function recordInto(tags: Tags, stopped: () => boolean): LoopHooks {
  return {
    tried: (_, delta) => void tags.try(delta),
    acked: (tag) => tags.ack(tag),
    stopped,
  }
}

/**
 * {@link sessionLoop} on `lanes` lanes per worker (so many operations are in flight at once),
 * recording into `tags` until `stopped()`; resolves when every lane stopped.
 */
export function runLanes(
  workers: readonly Shard[],
  lanes: number,
  resources: readonly Update[],
  prefix: string,
  sink: Sink,
  tags: Tags,
  stopped: () => boolean,
): Promise<void> {
  const all = Promise.all(
    workers.flatMap((shard, i) =>
      Array.from({ length: lanes }, (_, lane) =>
        sessionLoop(
          shard,
          resources,
          seededRandom(1 + lanes * i + lane),
          `o:${prefix}:${i}${String.fromCharCode(97 + lane)}`,
          sink,
          recordInto(tags, stopped),
        ),
      ),
    ),
  )
  return all.then(() => {})
}
