import { expect, it } from 'vitest'
import { runTiny } from './tiny.js'

it('e2e: the main job at a tiny scale, checked, against the per-event SQL upsert', () => {
  const result = runTiny(
    'src/e2e.ts',
    [
      '--events',
      '2000',
      '--widgets',
      '200',
      '--capacity',
      '20',
      '--naive',
      '100',
      '--workers',
      '1',
    ],
    'e2e',
  )
  expect(result.workload).toMatchObject({
    events: 2000,
    widgets: 200,
    capacity: 20,
    naiveEvents: 100,
  })
  expect(result.workload.sql).toMatch(/PGlite/)
  expect(result.baselines.perEventUpsertEventsPerSec).toBeGreaterThan(0)
  expect(result.runs).toHaveLength(1)
  const [run] = result.runs
  expect(run).toMatchObject({ workers: 1, check: true, differences: [] })
  expect(run.eventsPerSec).toBeGreaterThan(0)
  expect(run.ratioToPerEventUpsert).toBeGreaterThan(0)
  // Far fewer SQL statements than events: that is the point.
  expect(run.eventsPerSqlStatement).toBeGreaterThan(2)
  expect(run.redisRoundTrips).toBeGreaterThan(0)
  expect(result.machine.cpus).toBeGreaterThan(0)
}, 120_000) // starts the whole job (PGlite, workers): tens of seconds on a busy machine
