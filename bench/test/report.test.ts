import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { median } from '../src/report.js'
import { runTiny } from './tiny.js'

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

describe('the benchmarks run at a tiny scale and write well-formed results', () => {
  it('core: ratios to the Map-loop baseline and the machine', () => {
    const result = runTiny(
      'src/core.ts',
      ['--events', '20000', '--keys', '1000', '--rounds', '1'],
      'core',
    )
    expect(result.workload).toMatchObject({ events: 20000, keys: 1000, rounds: 1 })
    expect(result.ratio).toBeGreaterThan(0)
    expect(result.machine.cpus).toBeGreaterThan(0)
    expect(Object.keys(result.variants)).toContain('Map loop (baseline)')
  }, 60_000)

  it('redis-shard: releases against redis-benchmark and naive INCRBY on a private server', () => {
    const result = runTiny(
      'src/redis-shard.ts',
      ['--releases', '2000', '--rounds', '1', '--sessions', '640'],
      'redis-shard',
    )
    expect(result.perSession.calls).toBeGreaterThan(7)
    expect(result.perSession.bytesSent).toBeGreaterThan(0)
    expect(result.perSession.ratioToBaseline).toBeGreaterThan(0)
    expect(result.ratioToRedisBenchmark).toBeGreaterThan(0)
    expect(result.redisBenchmarkEquivalentPerSec).toBeGreaterThan(0)
    expect(result.ratioToMinimalScript).toBeGreaterThan(0)
    expect(result.naiveIncrbyEventsPerSec).toBeGreaterThan(0)
    expect(result.perRelease.scriptCalls).toBeLessThan(1)
  }, 60_000)

  it('lru-update: one worker end to end, with the three baselines', () => {
    const result = runTiny(
      'src/lru-update.ts',
      [
        '--events',
        '20000',
        '--keys',
        '5000',
        '--sizes',
        '100,1000',
        '--naive',
        '5000',
        '--ceiling',
        '5000',
      ],
      'lru-update',
    )
    expect(result.workload).toMatchObject({ events: 20000, keys: 5000 })
    for (const run of [result.lru100, result.lru1k]) {
      expect(run.eventsPerSec).toBeGreaterThan(0)
      expect(run.ratioToCeiling).toBeGreaterThan(0)
      expect(run.ratioToPerEvent).toBeGreaterThan(0)
      expect(run.bytesPerEntry).toBeGreaterThan(0)
      expect(run.failures).toBe(0)
    }
    expect(result.baselines.perEventHincrbyEventsPerSec).toBeGreaterThan(0)
  }, 60_000)
})
