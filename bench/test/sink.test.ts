import { expect, it } from 'vitest'
import { runTiny } from './tiny.js'

it('sink: runs at a tiny scale on PGlite and PostgreSQL and writes both ratios to the naive baseline', () => {
  const result = runTiny(
    'src/sink.ts',
    ['--rows', '200', '--keys', '50', '--batch', '50', '--rounds', '1'],
    'sink',
  )
  expect(result.workload).toMatchObject({ rows: 200, keys: 50, batch: 50, rounds: 1 })
  for (const backend of ['postgres', 'pglite']) {
    expect(result[backend].batchedToNaive).toBeGreaterThan(0)
    expect(result[backend].batchedRowsPerSec).toBeGreaterThan(0)
    expect(result[backend].naiveRowsPerSec).toBeGreaterThan(0)
  }
  expect(result.machine.cpus).toBeGreaterThan(0)
}, 120_000)
