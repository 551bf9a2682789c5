/**
 * End to end: the seed's widget clicks/impressions stream, aggregated by several workers
 * (`@phonon/lru-update` aggregators on one in-process `MemoryShard` store), executed by the last
 * holders into PGlite. The table must equal the ground truth exactly, and re-executing every
 * claim must change nothing.
 */
import { Codec, id, sum } from '@phonon/core'
import { type Aggregator, createAggregator } from '@phonon/lru-update'
import { type Claim, MemoryShard, MemoryStore } from '@phonon/redis-shard'
import { createZipf } from '@phonon/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { column, createSink, defineSqlModel, type Sink } from '../src/index.js'

/** The seed's event. */
interface WidgetEvent {
  readonly parent_post_id: number
  readonly target_post_id: number
  readonly event_type: 'click' | 'impression'
}

/** The seed's stream: widgets are (parent, target) pairs drawn from a Zipf law. */
function widgetEvents(count: number, seed: number): WidgetEvent[] {
  const zipf = createZipf({ n: 2_000, s: 1.1, seed })
  return Array.from({ length: count }, (_, i) => {
    const widget = zipf.next() - 1
    return {
      parent_post_id: Math.floor(widget / 100),
      target_post_id: widget % 100,
      event_type: (i * 7919) % 10 === 0 ? 'click' : 'impression',
    }
  })
}

type Totals = Map<string, { clicks: number; impressions: number }>

function groundTruth(events: readonly WidgetEvent[]): Totals {
  const truth: Totals = new Map()
  for (const e of events) {
    const key = `${e.parent_post_id}-${e.target_post_id}`
    const row = truth.get(key) ?? { clicks: 0, impressions: 0 }
    if (e.event_type === 'click') row.clicks++
    else row.impressions++
    truth.set(key, row)
  }
  return truth
}

/** Feeds the events to `workers` aggregators round-robin-ish (by event index), then closes them. */
async function runWorkers(
  aggregators: Aggregator[],
  events: readonly WidgetEvent[],
  make: (e: WidgetEvent) => Parameters<Aggregator['offer']>[0],
) {
  for (const [i, event] of events.entries()) {
    await aggregators[(i * 31 + event.target_post_id) % aggregators.length]?.offer(make(event))
  }
  await Promise.all(aggregators.map((a) => a.close()))
}

// The seed's model, as a core model bound to a table: execute(claim) writes it.
const Widget = defineSqlModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'widgets' },
)

// The seed's table with its composite key: an update's id names it, 'parent:target'.
const WidgetPair = defineSqlModel(
  'WidgetPair',
  { id: id(), clicks: sum(), impressions: sum() },
  {
    table: 'widget_pairs',
    key: { parent_post_id: column.integer(), target_post_id: column.integer() },
  },
)

describe('end to end: lru-update + MemoryShard + PGlite', () => {
  let sink: Sink
  beforeAll(async () => {
    sink = await createSink({ dialect: 'pglite', models: [Widget.sqlModel, WidgetPair.sqlModel] })
    Widget.sqlModel.bind(sink)
    WidgetPair.sqlModel.bind(sink)
    await sink.migrate()
  }, 60_000)
  afterAll(() => sink?.close())

  it('a core model executed by the last holders: the table is the ground truth', async () => {
    const events = widgetEvents(10_000, 1)
    const store = new MemoryStore()
    const codec = new Codec([Widget])
    const executed: Claim[] = []
    const aggregators = Array.from({ length: 3 }, (_, w) =>
      createAggregator({
        shard: new MemoryShard({ codec, store, workerId: `worker-${w}` }),
        max: 64,
        execute: async (claim) => {
          await claim.update.execute(claim)
          executed.push(claim)
        },
      }),
    )
    await runWorkers(aggregators, events, (e) =>
      Widget.create({
        id: `${e.parent_post_id}-${e.target_post_id}`,
        clicks: e.event_type === 'click' ? 1 : 0,
        impressions: e.event_type === 'impression' ? 1 : 0,
      }),
    )
    const rows = await Widget.objects.all()
    const truth = groundTruth(events)
    expect(
      new Map(rows.map((r) => [r.id, { clicks: r.clicks, impressions: r.impressions }])),
    ).toEqual(truth)
    expect(executed.length).toBeLessThan(events.length / 2) // far fewer writes than events

    // Every claim executed again (a retried claim): recorded already, nothing changes.
    expect(await sink.executeMany(executed)).toEqual({
      applied: 0,
      skipped: executed.length,
      failed: [],
    })
    for (const claim of executed.slice(0, 50)) await claim.update.execute(claim)
    expect(await Widget.objects.all()).toEqual(rows)
  }, 60_000)

  it('updates of the seed’s (parent, target) table, executed in batches with executeMany', async () => {
    const events = widgetEvents(20_000, 2)
    const store = new MemoryStore()
    const codec = new Codec([WidgetPair])
    let batches = 0
    const aggregators = Array.from({ length: 3 }, (_, w) =>
      createAggregator({
        shard: new MemoryShard({ codec, store, workerId: `batch-worker-${w}` }),
        max: 64,
        executeBatch: (claims) => {
          batches++
          return sink.executeMany(claims) // its failed list: only those claims are retried
        },
      }),
    )
    await runWorkers(aggregators, events, (e) => {
      const click = e.event_type === 'click' ? 1 : 0
      return WidgetPair.create({
        id: `${e.parent_post_id}:${e.target_post_id}`,
        clicks: click,
        impressions: 1 - click,
      })
    })
    for (const aggregator of aggregators) expect(aggregator.failures()).toEqual([])
    const rows = await WidgetPair.objects.all()
    const table = new Map(
      rows.map((r) => [
        `${r.parent_post_id}-${r.target_post_id}`,
        { clicks: r.clicks, impressions: r.impressions },
      ]),
    )
    expect(table).toEqual(groundTruth(events))
    expect(batches).toBeGreaterThan(0)
  }, 60_000)
})
