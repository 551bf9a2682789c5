import {
  AggregationTemporality,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import { MemoryShard } from '@phonon/redis-shard'
import { describe, expect, it } from 'vitest'
import { createAggregator, observeMetrics } from '../src/index.js'
import { codec, Widget } from './fixtures.js'

/** A reader the test collects from on demand. */
class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE })
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** Each data point as `name{attributes}` → value. */
function points(metrics: ResourceMetrics): Map<string, number> {
  const result = new Map<string, number>()
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      for (const point of metric.dataPoints) {
        const attrs = Object.entries(point.attributes)
          .map(([k, v]) => `${k}=${String(v)}`)
          .sort()
          .join(',')
        result.set(`${metric.descriptor.name}{${attrs}}`, point.value as number)
      }
    }
  }
  return result
}

describe('observeMetrics with the OpenTelemetry SDK', () => {
  it('reports the stats at each collection, and stops when asked', async () => {
    const reader = new TestReader()
    const provider = new MeterProvider({ readers: [reader] })
    const aggregator = createAggregator({ shard: new MemoryShard({ codec: codec() }), max: 2 })
    const stop = observeMetrics(aggregator, provider.getMeter('phonon'), { worker: 'w1' })
    for (const key of ['a', 'a', 'b', 'c'])
      await aggregator.offer(Widget.create({ id: key, clicks: 1 }))
    await aggregator.drain()
    const first = points((await reader.collect()).resourceMetrics)
    expect(first.get('phonon.lru.offers{worker=w1}')).toBe(4)
    expect(first.get('phonon.lru.merges{worker=w1}')).toBe(1)
    expect(first.get('phonon.lru.entries{worker=w1}')).toBe(2)
    expect(first.get('phonon.lru.hit_ratio{worker=w1}')).toBe(0.25)
    expect(first.get('phonon.lru.sessions.ended{cause=capacity,worker=w1}')).toBe(1)
    expect(first.get('phonon.lru.releases{worker=w1}')).toBe(1)
    expect(first.has('phonon.lru.flush.latency{quantile=p99,worker=w1}')).toBe(true)
    await aggregator.offer(Widget.create({ id: 'd', clicks: 1 }))
    expect(
      points((await reader.collect()).resourceMetrics).get('phonon.lru.offers{worker=w1}'),
    ).toBe(5)
    stop()
    await aggregator.offer(Widget.create({ id: 'e', clicks: 1 }))
    const after = points((await reader.collect()).resourceMetrics)
    expect(after.get('phonon.lru.offers{worker=w1}')).not.toBe(6)
    await aggregator.close()
    await provider.shutdown()
  })
})
