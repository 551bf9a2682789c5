import { ShardError } from '@phonon/core'
import { MemoryShard, type MemoryStore, type Shard } from '@phonon/redis-shard'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type AckableMessage, createAggregator, withLocalAggregation } from '../src/index.js'
import { addTo, codec, memoryWorkers, RecordingSink, type Totals, Widget } from './fixtures.js'

/**
 * What the shard does to one call: answer it, fail before doing anything, do it and lose the
 * reply, or do it and answer garbage (a defect in whoever reads the answer).
 */
type Fault = 'ok' | 'fail' | 'lost' | 'garbage'

/** A MemoryShard whose batch and single calls suffer the faults of `plan`, in turn, while `on`. */
function faulty(shard: MemoryShard, plan: readonly Fault[], switch_: { on: boolean }): Shard {
  let next = 0
  const methods = new Set([
    'acquire',
    'acquireMany',
    'fold',
    'foldMany',
    'release',
    'releaseMany',
    'completeMany',
  ])
  return new Proxy(shard, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      if (!methods.has(String(property))) return value.bind(target)
      return async (...args: unknown[]) => {
        const fault = switch_.on && plan.length > 0 ? plan[next++ % plan.length] : 'ok'
        if (fault === 'fail') throw new ShardError('injected: refused')
        const result = await value.apply(target, args)
        if (fault === 'lost') throw new ShardError('injected: reply lost')
        if (fault === 'garbage' && Array.isArray(result)) return result.map(() => undefined)
        return result
      }
    },
  })
}

/** What reached the shard or the sink, per widget: executed, pending, or claimed and not executed. */
function applied(store: MemoryStore, sink: RecordingSink): Totals {
  const totals: Totals = new Map()
  for (const [widget, row] of sink.totals) addTo(totals, widget, row.clicks, row.impressions)
  for (const [resourceId, resource] of store.resources) {
    const widget = resourceId.slice('Widget.'.length)
    const parts = [resource.pending, resource.exec?.claim.update]
    if (
      resource.exec !== undefined &&
      sink.epochs.has(`${resourceId}@${resource.exec.claim.epoch}`)
    ) {
      parts.pop() // executed already: in the sink
    }
    for (const update of parts) {
      if (update === undefined) continue
      const { clicks, impressions } = (update as ReturnType<typeof Widget.create>).aggregate()
      addTo(totals, widget, clicks, impressions)
    }
  }
  return totals
}

const step = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('offer' as const),
      worker: fc.nat(1),
      key: fc.nat(5),
      clicks: fc.integer({ min: 1, max: 5 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom('flush' as const, 'expireAll' as const, 'purge' as const),
      worker: fc.nat(1),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.nat(300) }) },
)
interface Message extends AckableMessage {
  readonly widget: number
  readonly clicks: number
}
const fault = fc.constantFrom<Fault>('ok', 'ok', 'ok', 'fail', 'lost', 'garbage')

describe('the flusher under shard faults', () => {
  it('acks or nacks every message exactly once, acks only what is in the shard, doubles nothing, and its failures retried (under faults, then healthy) make the totals exact', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fault, { maxLength: 12 }),
        fc.array(step, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        async (plan, program, max) => {
          const { store, shard } = memoryWorkers()
          const sink = new RecordingSink()
          const faults = { on: true }
          let now = 0
          const aggregators = [0, 1].map(() =>
            createAggregator({
              shard: faulty(shard() as MemoryShard, plan, faults),
              max,
              flushIntervalMs: 100,
              flushBatch: 3,
              retry: { attempts: 2, baseDelayMs: 0, maxDelayMs: 0 },
              closeShard: false,
              now: () => now,
              execute: sink.execute,
            }),
          )
          const handlers = aggregators.map((a) =>
            withLocalAggregation(a, (m: Message) =>
              Widget.create({ id: m.widget, clicks: m.clicks }),
            ),
          )
          const offered: Totals = new Map()
          const acked: Totals = new Map()
          const settled: string[][] = []
          for (const s of program) {
            if (s.kind === 'tick') {
              now += s.ms
              await Promise.all(aggregators.map((a) => a.purge()))
            } else if (s.kind === 'offer') {
              const calls: string[] = []
              settled.push(calls)
              addTo(offered, String(s.key), s.clicks, 0)
              await handlers[s.worker]!({
                widget: s.key,
                clicks: s.clicks,
                ack: () => {
                  calls.push('ack')
                  addTo(acked, String(s.key), s.clicks, 0)
                },
                nack: () => {
                  calls.push('nack')
                },
              })
            } else await aggregators[s.worker]![s.kind]()
          }
          await Promise.all(aggregators.map((a) => a.close()))
          // Every message settled once; acked deltas reached the shard; nothing counted twice.
          for (const calls of settled) expect(calls).toHaveLength(1)
          const reached = applied(store, sink)
          for (const [widget, row] of offered) {
            const got = reached.get(widget)?.clicks ?? 0
            expect(got).toBeGreaterThanOrEqual(acked.get(widget)?.clicks ?? 0)
            expect(got).toBeLessThanOrEqual(row.clicks)
          }
          // The failures hold what is missing: retried once under the same faults (a retry's
          // reply lost too), then with the shard healthy, nothing is.
          for (const on of [true, false]) {
            faults.on = on
            for (const a of aggregators) {
              for (const failure of [...a.failures()]) await failure.retry().catch(() => {})
            }
          }
          const final = applied(store, sink)
          for (const [widget, row] of offered) expect(final.get(widget)?.clicks).toBe(row.clicks)
          expect(sink.duplicates).toBe(0)
        },
      ),
      { numRuns: 120 },
    )
  }, 180_000)

  it('keeps a shard that answers garbage a failure of its own, not a crash', async () => {
    const store = new MemoryShard({ codec: codec() })
    const sink = new RecordingSink()
    const aggregator = createAggregator({
      shard: faulty(store, ['ok', 'garbage'], { on: true }),
      max: 10,
      execute: sink.execute,
      retry: { attempts: 1 },
    })
    await aggregator.offer(Widget.create({ id: 'g', clicks: 1 }))
    await aggregator.expireAll()
    expect(aggregator.failures().map((f) => f.kind)).toEqual(['release'])
    await aggregator.close()
  })
})
