import { CacheError } from '@phonon/core'
import { MemoryShard } from '@phonon/redis-shard'
import { describe, expect, it } from 'vitest'
import { createAggregator } from '../src/index.js'
import {
  addTo,
  codec,
  expectSameTotals,
  gated,
  intercept,
  RecordingSink,
  type Totals,
  Widget,
} from './fixtures.js'

describe('backpressure', () => {
  it('makes offer wait while the flusher is behind, and keeps memory bounded', async () => {
    const sink = new RecordingSink()
    const slow = intercept(
      new MemoryShard({ codec: codec() }),
      'releaseMany',
      () => new Promise((r) => setTimeout(r, 2)),
    )
    const maxQueued = 16
    const aggregator = createAggregator({
      shard: slow,
      max: 8,
      maxQueued,
      flushBatch: 4,
      flushConcurrency: 1,
      execute: sink.execute,
    })
    const truth: Totals = new Map()
    let waits = 0
    let maxSeen = 0
    for (let i = 0; i < 400; i++) {
      addTo(truth, String(i % 50), 1, 0)
      const wait = aggregator.offer(Widget.create({ id: i % 50, clicks: 1 }))
      const { queued, entries } = aggregator.stats()
      maxSeen = Math.max(maxSeen, queued)
      expect(entries).toBeLessThanOrEqual(8)
      if (wait !== undefined) {
        waits++
        await wait
        expect(aggregator.stats().queued).toBeLessThanOrEqual(maxQueued / 2)
      }
    }
    // Each offer adds at most two jobs (its acquire and an evicted session's release).
    expect(maxSeen).toBeLessThanOrEqual(maxQueued + 1)
    expect(waits).toBeGreaterThan(10)
    await aggregator.close()
    expectSameTotals(sink.totals, truth)
  }, 60_000)

  it('refuses offers from a caller that does not wait, and loses none it accepted', async () => {
    const sink = new RecordingSink()
    const stuck = gated(new MemoryShard({ codec: codec() }), 'acquireMany')
    const aggregator = createAggregator({
      shard: stuck.shard,
      max: 4,
      maxQueued: 10,
      execute: sink.execute,
    })
    const truth: Totals = new Map()
    let refused: unknown
    for (let i = 0; i < 100 && refused === undefined; i++) {
      try {
        void aggregator.offer(Widget.create({ id: i, clicks: 1 }))
        addTo(truth, String(i), 1, 0)
      } catch (error) {
        refused = error
      }
    }
    expect(refused).toBeInstanceOf(CacheError)
    expect(aggregator.stats().queued).toBe(20)
    stuck.open()
    await aggregator.close()
    expectSameTotals(sink.totals, truth)
  })
})
