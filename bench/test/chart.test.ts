import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type SweepPoint, shortNumber, sweepChart } from '../src/chart.js'
import { expectChartOf, sweepOf } from './svg.js'
import { descendants, parseXml } from './xml.js'

describe('the XML reader the chart tests rely on', () => {
  it('reads a well-formed document', () => {
    const root = parseXml(
      '<?xml version="1.0"?>\n<a x="1 &amp; 2"><b/><c y=\'2\'>t &lt; u</c></a>\n',
    )
    expect(root.attributes.x).toBe('1 & 2')
    expect(descendants(root).map((e) => e.name)).toEqual(['a', 'b', 'c'])
    expect(root.children[1]?.text).toBe('t < u')
  })

  it.each([
    ['<a><b></a></b>', 'closes'],
    ['<a>1 & 2</a>', 'bare &'],
    ['<a x=1></a>', 'a < that starts no tag'],
    ['<a x="1" x="2"/>', 'duplicate'],
    ['<a></a><b/>', 'second root'],
    ['<a>', 'never closed'],
    ['<a>x < y</a>', 'a < that starts no tag'],
    ['text', 'outside the root'],
  ])('rejects %s', (source, message) => {
    expect(() => parseXml(source)).toThrow(message)
  })
})

describe('sweepChart', () => {
  const points: SweepPoint[] = [
    { skew: 0.8, max: 1000, steadyEventsPerSec: 12_000, evictionsPerEvent: 0.9, hitRatio: 0.1 },
    { skew: 0.8, max: 10_000, steadyEventsPerSec: 9_000, evictionsPerEvent: 0.77, hitRatio: 0.23 },
    { skew: 1.4, max: 1000, steadyEventsPerSec: 74_000, evictionsPerEvent: 0.07, hitRatio: 0.93 },
    {
      skew: 1.4,
      max: 10_000,
      steadyEventsPerSec: 360_000,
      evictionsPerEvent: 0,
      hitRatio: 0.97,
      fullAtStart: false,
    },
  ]

  it('is a well-formed SVG whose points sit where its axes put their values', () => {
    const svg = sweepChart(
      sweepOf(points, { '0.8': 600_000, '1.4': 1_500_000 }, { '0.8': 2_000, '1.4': 3_000 }),
    )
    expectChartOf(svg, sweepOf(points))
    expect(svg).toContain('2 cores of an AMD EPYC &lt;test&gt; &amp; &quot;co&quot;')
    const root = parseXml(svg)
    const texts = descendants(root).map((e) => e.text)
    for (const label of ['Zipf skew', '0.8', '1.4', 'LRU size (entries, log scale)']) {
      expect(texts).toContain(label)
    }
    const baselines = descendants(root).filter((e) => e.attributes['data-baseline'] === 'core')
    expect(baselines.map((e) => Number(e.attributes['data-value']))).toEqual([600_000, 1_500_000])
    // The per-event baseline is drawn too, inside the axis: the lowest tick is at or below it.
    const perEvent = descendants(root).filter((e) => e.attributes['data-baseline'] === 'per-event')
    expect(perEvent.map((e) => Number(e.attributes['data-value']))).toEqual([2_000, 3_000])
    const yTicks = descendants(root).filter(
      (e) => e.attributes['data-axis'] === 'y' && Number(e.attributes['data-value']) > 1,
    )
    expect(Math.min(...yTicks.map((e) => Number(e.attributes['data-value'])))).toBeLessThanOrEqual(
      2_000,
    )
    expect(texts).toContain('one HINCRBY per event')
    // The point whose LRU was not full when measured is drawn hollow.
    const hollow = descendants(root).filter(
      (e) =>
        e.name === 'circle' &&
        e.attributes.fill === '#ffffff' &&
        e.attributes['data-series'] !== undefined,
    )
    expect(hollow.map((e) => e.attributes['data-max'])).toEqual(['10000', '10000'])
  })

  it('draws any sweep well-formed and true to its data', () => {
    const point = fc.record({
      steadyEventsPerSec: fc.double({ min: 1, max: 1e8, noNaN: true }),
      evictionsPerEvent: fc.double({ min: 0, max: 1, noNaN: true }),
      hitRatio: fc.double({ min: 0, max: 1, noNaN: true }),
      fullAtStart: fc.boolean(),
    })
    const grid = fc.record({
      skews: fc.uniqueArray(fc.double({ min: 0.1, max: 3, noNaN: true }), {
        minLength: 1,
        maxLength: 7,
      }),
      sizes: fc.uniqueArray(fc.integer({ min: 1, max: 10_000_000 }), {
        minLength: 1,
        maxLength: 6,
      }),
    })
    fc.assert(
      fc.property(grid, fc.infiniteStream(point), ({ skews, sizes }, values) => {
        const points = skews.flatMap((skew) =>
          sizes.map((max) => ({ skew, max, ...values.next().value })),
        )
        expectChartOf(sweepChart(sweepOf(points)), sweepOf(points))
      }),
      { numRuns: 50 },
    )
  })

  it('spans a value just under a power of ten with two ticks (log10 rounds it up to the power)', () => {
    const under = { skew: 0.1, max: 1, evictionsPerEvent: 0, hitRatio: 0 }
    for (const steadyEventsPerSec of [99_999_999.999_999_99, 999.999_999_999_999_9]) {
      const sweep = sweepOf([{ ...under, steadyEventsPerSec }])
      expectChartOf(sweepChart(sweep), sweep)
    }
  })

  it('is caught when a point is off its value', () => {
    const sweep = sweepOf(points)
    const svg = sweepChart(sweep)
    const moved = svg.replace(
      /(data-series="rate"[^>]*cy=")([\d.]+)/,
      (_, head, cy) => `${head}${Number(cy) + 3}`,
    )
    expect(moved).not.toBe(svg)
    expect(() => expectChartOf(moved, sweep)).toThrow()
    const relabelled = svg.replace('data-value="0.9"', 'data-value="0.8"')
    expect(() => expectChartOf(relabelled, sweep)).toThrow()
    expect(() => expectChartOf(svg.replace('</svg>', ''), sweep)).toThrow('never closed')
  })

  it('throws on a sweep without points', () => {
    expect(() => sweepChart(sweepOf([]))).toThrow(RangeError)
  })
})

describe('shortNumber', () => {
  it.each([
    [1000, '1k'],
    [2500000, '2.5M'],
    [999, '999'],
    [100_000, '100k'],
  ])('%d is %s', (n, text) => expect(shortNumber(n)).toBe(text))
})
