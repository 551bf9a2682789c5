import { expect, it } from 'vitest'
import { runWidgets } from '../src/widgets.js'

it('the widgets job merges locally and its table matches the ground truth exactly', async () => {
  const summary = await runWidgets({
    events: 20_000,
    widgets: 2_000,
    skew: 1.1,
    capacity: 100,
    seed: 7,
  })
  expect(summary.check).toBe(true)
  expect(summary.differences).toEqual([])
  expect(summary.merges).toBeGreaterThan(0)
  expect(summary.sinkWrites).toBeLessThan(summary.events)
  expect(summary.merges + summary.sinkWrites).toBe(summary.events)
})
