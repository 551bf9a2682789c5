import { zipfSample } from '@phonon/testkit'
import { describe, expect, it } from 'vitest'
import { createAggregator } from '../src/index.js'
import {
  addTo,
  expectSameTotals,
  memoryWorkers,
  RecordingSink,
  type Totals,
  Widget,
} from './fixtures.js'

describe('smoke', () => {
  it('aggregates exactly', async () => {
    const { shard } = memoryWorkers()
    const sink = new RecordingSink()
    const agg = createAggregator({ shard: shard(), max: 100, execute: sink.execute })
    const truth: Totals = new Map()
    const keys = zipfSample({ n: 1000, s: 1.1, seed: 1, count: 100000 })
    for (const [i, k] of keys.entries()) {
      const c = i % 7 === 0 ? 1 : 0
      addTo(truth, String(k), c, 1 - c)
      await agg.offer(Widget.create({ id: k, clicks: c, impressions: 1 - c }))
    }
    await agg.close()
    expectSameTotals(sink.totals, truth)
    console.log(agg.stats())
    expect(agg.failures()).toEqual([])
  })
})
