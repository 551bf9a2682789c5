import { expect } from 'vitest'
import type { SweepPoint, SweepResult } from '../src/chart.js'
import { descendants, parseXml, type XmlElement } from './xml.js'

/** A sweep result of the given points, on a machine whose name needs escaping. */
export function sweepOf(
  points: readonly SweepPoint[],
  core: Record<string, number> = {},
  perEvent: Record<string, number> = {},
) {
  return {
    date: '2026-01-02T03:04:05.000Z',
    machine: { cpus: 2, cpuModel: 'AMD EPYC <test> & "co"', node: 'v20.0.0' },
    workload: { events: 1000, keys: 5000, redis: '7.0.15' },
    baselines: { coreMergeEventsPerSec: core, perEventHincrbyEventsPerSec: perEvent },
    points,
  } satisfies SweepResult
}

const PANELS = {
  rate: { value: (p: SweepPoint) => p.steadyEventsPerSec, log: true },
  evictions: { value: (p: SweepPoint) => p.evictionsPerEvent, log: false },
} as const

const attr = (e: XmlElement, name: string) => Number(e.attributes[name])

/**
 * Checks that `svg` is a well-formed SVG document drawing `sweep`: in each panel, one point per
 * sweep point carrying its value, placed where the panel's own axis ticks put that value (log or
 * linear), and one line per skew through its points in order of LRU size.
 */
export function expectChartOf(svg: string, sweep: SweepResult): void {
  const root = parseXml(svg)
  expect(root.name).toBe('svg')
  expect(root.attributes.xmlns).toBe('http://www.w3.org/2000/svg')
  const all = descendants(root)
  for (const [name, { value, log }] of Object.entries(PANELS)) {
    const panel = all.find((e) => e.attributes['data-panel'] === name)
    expect(panel, `panel ${name}`).toBeDefined()
    const ticks = descendants(panel as XmlElement).filter((e) => e.name === 'line')
    const yTicks = ticks.filter((e) => e.attributes['data-axis'] === 'y')
    const xTicks = new Map(
      ticks
        .filter((e) => e.attributes['data-axis'] === 'x')
        .map((e) => [attr(e, 'data-value'), attr(e, 'x1')]),
    )
    // The value → y mapping the axis shows, from its first and last ticks.
    const f = (v: number) => (log ? Math.log10(v) : v)
    const [first, last] = [yTicks[0] as XmlElement, yTicks.at(-1) as XmlElement]
    const [v0, y0] = [f(attr(first, 'data-value')), attr(first, 'y1')]
    const [v1, y1] = [f(attr(last, 'data-value')), attr(last, 'y1')]
    const yOf = (v: number) => y0 + ((f(v) - v0) / (v1 - v0)) * (y1 - y0)
    for (const tick of yTicks)
      expect(attr(tick, 'y1')).toBeCloseTo(yOf(attr(tick, 'data-value')), 1)

    const circles = all.filter((e) => e.name === 'circle' && e.attributes['data-series'] === name)
    expect(circles).toHaveLength(sweep.points.length)
    for (const p of sweep.points) {
      const circle = circles.find(
        (c) => attr(c, 'data-skew') === p.skew && attr(c, 'data-max') === p.max,
      )
      expect(circle, `${name} point of skew ${p.skew}, LRU ${p.max}`).toBeDefined()
      const c = circle as XmlElement
      expect(attr(c, 'data-value')).toBe(value(p))
      expect(Math.abs(attr(c, 'cx') - (xTicks.get(p.max) as number))).toBeLessThan(0.02)
      expect(Math.abs(attr(c, 'cy') - yOf(value(p)))).toBeLessThan(0.6)
    }
    for (const skew of new Set(sweep.points.map((p) => p.skew))) {
      const line = all.find(
        (e) =>
          e.name === 'polyline' &&
          e.attributes['data-series'] === name &&
          attr(e, 'data-skew') === skew,
      )
      const drawn = (line?.attributes.points ?? '')
        .split(' ')
        .map((xy) => xy.split(',').map(Number))
      const expected = circles
        .filter((c) => attr(c, 'data-skew') === skew)
        .sort((a, b) => attr(a, 'data-max') - attr(b, 'data-max'))
        .map((c) => [attr(c, 'cx'), attr(c, 'cy')])
      expect(drawn).toEqual(expected)
    }
  }
}
