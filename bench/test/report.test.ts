import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { median } from '../src/report.js'

describe('median', () => {
  it('is the middle of the sorted values, whatever their order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { minLength: 1, maxLength: 20 }), (values) => {
        const m = median(values)
        const below = values.filter((v) => v < m).length
        const above = values.filter((v) => v > m).length
        expect(below).toBeLessThanOrEqual(values.length / 2)
        expect(above).toBeLessThanOrEqual(values.length / 2)
      }),
    )
  })
})

describe('the core benchmark', () => {
  it('runs at a tiny scale and writes a result with its ratios and the machine', () => {
    const dir = mkdtempSync(join(tmpdir(), 'phonon-bench-'))
    try {
      execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '--conditions=@phonon/source',
          'src/core.ts',
          '--events',
          '20000',
          '--keys',
          '1000',
          '--rounds',
          '1',
        ],
        {
          cwd: join(import.meta.dirname, '..'),
          env: { ...process.env, PHONON_BENCH_RESULTS: dir },
          stdio: 'pipe',
        },
      )
      const result = JSON.parse(readFileSync(join(dir, 'core.json'), 'utf8'))
      expect(result.workload).toMatchObject({ events: 20000, keys: 1000, rounds: 1 })
      expect(result.ratio).toBeGreaterThan(0)
      expect(result.machine.cpus).toBeGreaterThan(0)
      expect(Object.keys(result.variants)).toContain('Map loop (baseline)')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
