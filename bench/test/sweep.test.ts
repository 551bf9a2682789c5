import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectChartOf } from './svg.js'
import { runScript, withResultsDir } from './tiny.js'

describe('bench:sweep at a tiny scale', () => {
  it('writes a point per skew × size, which the report tabulates and draws', () => {
    withResultsDir((dir) => {
      runScript(
        'src/sweep.ts',
        [
          '--events',
          '3000',
          '--warmup',
          '2000',
          '--keys',
          '2000',
          '--skews',
          '0.8,1.4',
          '--sizes',
          '50,500',
          '--ceiling',
          '2000',
        ],
        dir,
      )
      const sweep = JSON.parse(readFileSync(join(dir, 'sweep.json'), 'utf8'))
      expect(sweep.workload).toMatchObject({
        events: 3000,
        warmup: 2000,
        keys: 2000,
        skews: [0.8, 1.4],
        sizes: [50, 500],
      })
      expect(sweep.machine.cpus).toBeGreaterThan(0)
      expect(sweep.baselines.releaseScriptCallsPerSec).toBeGreaterThan(0)
      expect(Object.keys(sweep.baselines.coreMergeEventsPerSec)).toEqual(['0.8', '1.4'])
      expect(sweep.points.map((p: { skew: number; max: number }) => [p.skew, p.max])).toEqual([
        [0.8, 50],
        [0.8, 500],
        [1.4, 50],
        [1.4, 500],
      ])
      for (const p of sweep.points) {
        expect(p.events).toBe(3000)
        expect(p.steadyEventsPerSec).toBeGreaterThan(0)
        expect(p.evictionsPerEvent).toBeGreaterThanOrEqual(0)
        expect(p.evictionsPerEvent).toBeLessThanOrEqual(1)
        expect(p.hitRatio + p.evictionsPerEvent).toBeLessThanOrEqual(1 + 1e-9)
        expect(p.failures).toBe(0)
        // One execution per resource whose last session ended (a session may end while a newer
        // one of the same resource is held: then only the newer one executes).
        expect(p.executions).toBeGreaterThan(0)
        expect(p.executions).toBeLessThanOrEqual(p.sessions)
      }
      // A 50-entry LRU fills during the warm-up; fewer hits and more evictions than a larger one.
      const [small, large] = sweep.points as Array<{
        fullAtStart: boolean
        warmup: number
        evictionsPerEvent: number
      }>
      expect(small?.fullAtStart).toBe(true)
      expect(small?.warmup).toBeLessThan(2000)
      expect(small?.evictionsPerEvent).toBeGreaterThan(large?.evictionsPerEvent ?? 1)

      runScript('src/summary.ts', [], dir)
      expect(readFileSync(join(dir, 'REPORT.md'), 'utf8')).toContain('## sweep\n')
      expectChartOf(readFileSync(join(dir, 'sweep.svg'), 'utf8'), sweep)
    })
  }, 120_000)
})
