import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'

it('sink: runs at a tiny scale on PGlite and PostgreSQL and writes both ratios to the naive baseline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'phonon-bench-'))
  try {
    execFileSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--conditions=@phonon/source',
        'src/sink.ts',
        '--rows',
        '200',
        '--keys',
        '50',
        '--batch',
        '50',
        '--rounds',
        '1',
      ],
      {
        cwd: join(import.meta.dirname, '..'),
        env: { ...process.env, PHONON_BENCH_RESULTS: dir },
        stdio: 'pipe',
      },
    )
    const result = JSON.parse(readFileSync(join(dir, 'sink.json'), 'utf8'))
    expect(result.workload).toMatchObject({ rows: 200, keys: 50, batch: 50, rounds: 1 })
    for (const backend of ['postgres', 'pglite']) {
      expect(result[backend].batchedToNaive).toBeGreaterThan(0)
      expect(result[backend].batchedRowsPerSec).toBeGreaterThan(0)
      expect(result[backend].naiveRowsPerSec).toBeGreaterThan(0)
    }
    expect(result.machine.cpus).toBeGreaterThan(0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}, 120_000)
