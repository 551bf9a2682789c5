import type { Shard } from '@phonon/redis-shard'
import fc from 'fast-check'
import { expect } from 'vitest'
import { type AggregatorOptions, createAggregator } from '../src/index.js'
import { addTo, expectSameTotals, RecordingSink, type Totals, Widget } from './fixtures.js'

/** One step of a random program run by several aggregators over shared resources. */
export type Step =
  | {
      readonly kind: 'offer'
      readonly worker: number
      readonly key: number
      readonly clicks: number
      /** Offered as raw inputs (`add`) rather than an update (`offer`). */
      readonly raw: boolean
    }
  | { readonly kind: 'expire'; readonly worker: number; readonly key: number }
  | { readonly kind: 'flush' | 'expireAll'; readonly worker: number }
  | { readonly kind: 'tick'; readonly ms: number }

/** Per-worker options a program draws. */
export type WorkerOptions = Pick<
  AggregatorOptions,
  'max' | 'idleMs' | 'maxAgeMs' | 'flushIntervalMs' | 'flushBatch'
>

const worker = fc.nat(2)
const key = fc.nat(11)
export const steps = fc.array(
  fc.oneof(
    {
      weight: 12,
      arbitrary: fc.record({
        kind: fc.constant('offer' as const),
        worker,
        key,
        clicks: fc.integer({ min: -3, max: 9 }),
        raw: fc.boolean(),
      }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const), worker, key }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constantFrom('flush' as const, 'expireAll' as const),
        worker,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('tick' as const),
        ms: fc.integer({ min: 1, max: 400 }),
      }),
    },
  ),
  { minLength: 1, maxLength: 120 },
)
export const workerOptions = fc.array(
  fc.record(
    {
      max: fc.integer({ min: 1, max: 6 }),
      idleMs: fc.integer({ min: 50, max: 1000 }),
      maxAgeMs: fc.integer({ min: 100, max: 2000 }),
      flushIntervalMs: fc.integer({ min: 50, max: 1000 }),
      flushBatch: fc.integer({ min: 1, max: 8 }),
    },
    { requiredKeys: ['max'] },
  ),
  { minLength: 1, maxLength: 3 },
)

/**
 * Runs a program on aggregators over the given shards and checks the invariants: entries ≤ max
 * at every step; after closing, the sink's totals equal what was offered (no lost or doubled
 * delta), each `(resource, epoch)` executed once, no more executions than sessions, no failure.
 */
export async function runProgram(
  shards: readonly Shard[],
  options: readonly WorkerOptions[],
  program: readonly Step[],
): Promise<void> {
  let now = 0
  const sink = new RecordingSink()
  const aggregators = shards.map((shard, i) =>
    createAggregator({
      shard,
      ...(options[i] as WorkerOptions),
      now: () => now,
      execute: sink.execute,
    }),
  )
  const truth: Totals = new Map()
  for (const step of program) {
    const aggregator = aggregators[('worker' in step ? step.worker : 0) % aggregators.length]!
    switch (step.kind) {
      case 'offer':
        addTo(truth, String(step.key), step.clicks, 1)
        if (step.raw) {
          await aggregator.add(Widget, { id: step.key, clicks: step.clicks, impressions: 1 })
        } else {
          await aggregator.offer(
            Widget.create({ id: step.key, clicks: step.clicks, impressions: 1 }),
          )
        }
        break
      case 'expire':
        aggregator.expire(`${Widget.collection}.${step.key}`)
        break
      case 'flush':
        await aggregator.flush()
        break
      case 'expireAll':
        await aggregator.expireAll()
        break
      case 'tick':
        now += step.ms
        await Promise.all(aggregators.map((a) => a.purge()))
    }
    for (const [i, a] of aggregators.entries()) expect(a.size).toBeLessThanOrEqual(options[i]!.max)
  }
  await Promise.all(aggregators.map((a) => a.close()))
  expectSameTotals(sink.totals, truth)
  expect(sink.duplicates).toBe(0)
  const sessions = aggregators.reduce((n, a) => n + a.stats().inserts + a.stats().renewals, 0)
  expect(sink.executions).toBeLessThanOrEqual(sessions)
  for (const a of aggregators) expect(a.failures()).toEqual([])
}
