import { expect, it } from 'vitest'
import { runTiny } from './tiny.js'

it('events: runs on PostgreSQL with a number of events that is not a multiple of 1,000 and consumes each once', () => {
  const result = runTiny(
    'src/events.ts',
    ['--events', '1500', '--batch', '70', '--rounds', '1', '--single', '30', '--lag', '20'],
    'events',
  )
  expect(result.params).toMatchObject({ events: 1500, batch: 70, rounds: 1 })
  for (const workers of ['workers1', 'workers4']) {
    expect(result.consume[workers].events.perSecond).toBeGreaterThan(0)
    expect(result.consume[workers].baseline.perSecond).toBeGreaterThan(0)
  }
  expect(result.log.batched.perSecond).toBeGreaterThan(0)
  expect(result.lag.p99Ms).toBeGreaterThan(0)
}, 120_000)
