import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { expectChartOf, sweepOf } from './svg.js'
import { runScript, withResultsDir } from './tiny.js'

const machine = {
  cpus: 2,
  cpuModel: 'AMD EPYC',
  memoryGiB: 24,
  node: 'v20.20.2',
  platform: 'linux-x64',
}

/** One small result per benchmark, with figures whose ratios are easy to check. */
const fixtures: Record<string, object> = {
  core: {
    workload: { events: 1000, keys: 100 },
    ratio: 0.5,
    target: { ratio: 0.4, met: true },
    variants: {
      'Map loop (baseline)': { eventsPerSec: 4_000_000 },
      'model create + merge': { eventsPerSec: 2_000_000 },
    },
  },
  'redis-shard': {
    workload: { releases: 1000, redis: '7.0.15' },
    ratioToRedisBenchmark: 0.75,
    releasesPerSec: 60_000,
    releasesWithClaimsPerSec: 40_000,
    redisBenchmarkEquivalentPerSec: 80_000,
    redisBenchmarkMinimalPerSec: 200_000,
    naiveIncrbyEventsPerSec: 50_000,
    target: { ratioToRedisBenchmark: 0.5 },
  },
  'lru-update': {
    workload: { events: 1000, redis: '7.0.15' },
    baselines: { coreMergeEventsPerSec: 500_000, perEventHincrbyEventsPerSec: 50_000 },
    lru10k: {
      max: 10_000,
      eventsPerSec: 100_000,
      ceilingEventsPerSec: 400_000,
      bytesPerEntry: 600,
    },
    localPath: { max: 10_000, eventsPerSec: 200_000 },
    targets: { bytesPerEntry: 300, lru10kEventsPerSec: 1_000_000, localPathEventsPerSec: 1e6 },
  },
  sink: {
    workload: { rows: 100 },
    postgres: {
      server: { version: '15.20', synchronousCommit: 'on' },
      naiveRowsPerSec: 500,
      singleRowsPerSec: 700,
      singleWithoutClaimRowsPerSec: 400,
      batchedRowsPerSec: 25_000,
      batchedToNaive: 50,
    },
    target: { batchedToNaiveOnPostgres: 10 },
  },
  sweep: {
    ...sweepOf([
      { skew: 1.1, max: 1000, steadyEventsPerSec: 20_000, evictionsPerEvent: 0.4, hitRatio: 0.6 },
      { skew: 1.1, max: 10_000, steadyEventsPerSec: 50_000, evictionsPerEvent: 0.2, hitRatio: 0.8 },
      {
        skew: 1.1,
        max: 100_000,
        steadyEventsPerSec: 400_000,
        evictionsPerEvent: 0.004,
        hitRatio: 0.9,
        fullAtStart: false,
        ...{ ceilingEventsPerSec: 12_000_000 }, // written by an older sweep: not shown
      },
    ]),
    baselines: {
      coreMergeEventsPerSec: { '1.1': 1_000_000 },
      perEventHincrbyEventsPerSec: { '1.1': 100_000 },
    },
  },
  e2e: {
    workload: { events: 10_000, redis: '7.0.15' },
    baselines: { perEventUpsertEventsPerSec: 1000 },
    runs: [
      { workers: 1, eventsPerSec: 30_000, eventsPerSqlStatement: 40, check: true, wallMs: 333 },
      { workers: 2, eventsPerSec: 45_000, eventsPerSqlStatement: 35, check: true, wallMs: 222 },
    ],
  },
  streams: {
    records: 1000,
    shards: 16,
    runs: 3,
    consume: { recordsPerSec: 150_000, nodeCpuMicrosPerRecord: 3 },
    rawConsume: { recordsPerSec: 200_000, nodeCpuMicrosPerRecord: 4 },
    rawConsumeBuffers: { recordsPerSec: 300_000, nodeCpuMicrosPerRecord: 3 },
    targets: [
      { what: 'consume ÷ raw XREAD', value: 0.75, goal: 0.7, better: 'higher', ratio: true },
    ],
  },
  mystery: {
    answer: 42,
    targets: [
      { what: 'answers/s', value: 42, goal: 40, better: 'higher' },
      { what: 'µs per answer', value: 3, goal: 2, better: 'lower' },
      { what: 'overhead', value: 0.5, goal: 0.25, better: 'lower', ratio: true },
    ],
  },
}

describe('bench:report', () => {
  it('writes REPORT.md with each benchmark, its figures next to their baselines, and the chart', () => {
    withResultsDir((dir) => {
      for (const [name, result] of Object.entries(fixtures)) {
        const record = {
          benchmark: name,
          date: `2026-01-02T03:0${name.length % 10}:00.000Z`,
          machine,
          ...result,
        }
        writeFileSync(join(dir, `${name}.json`), JSON.stringify(record))
      }
      runScript('src/summary.ts', [], dir)
      const report = readFileSync(join(dir, 'REPORT.md'), 'utf8')
      for (const name of Object.keys(fixtures)) expect(report).toContain(`## ${name}\n`)
      // In the order of `pnpm bench`, others last.
      const order = [
        'core',
        'redis-shard',
        'lru-update',
        'sink',
        'sweep',
        'e2e',
        'streams',
        'mystery',
      ]
      const positions = order.map((name) => report.indexOf(`## ${name}\n`))
      expect(positions).toEqual([...positions].sort((a, b) => a - b))
      // The machine and date of each result.
      expect(report).toContain(
        '| [sink](#sink) | 2026-01-02 03:04 | 2 | AMD EPYC | 24 GiB | v20.20.2 | linux-x64 | – | postgres 15.20 |',
      )
      expect(report).toContain(
        '| [redis-shard](#redis-shard) | 2026-01-02 03:01 | 2 | AMD EPYC | 24 GiB | v20.20.2 | linux-x64 | 7.0.15 | – |',
      )
      // Figures, baselines and ratios.
      expect(report).toContain(
        '| model create + merge, events/s | 2,000,000 | hand-written Map loop | 4,000,000 | 0.5× |',
      )
      expect(report).toContain(
        '| releases/s, resource held elsewhere | 60,000 | redis-benchmark, the release script | 80,000 | 0.75× |',
      )
      expect(report).toContain(
        '| LRU 10,000: events/s | 100,000 | per-event HINCRBY | 50,000 | 2× |',
      )
      expect(report).toContain(
        '| postgres: executeMany, rows/s | 25,000 | naive SELECT then UPDATE/INSERT | 500 | 50× |',
      )
      expect(report).toContain('| 1.1 | 1,000 | 20,000 | 1,000,000 | 0.02× | 100,000 | 0.2× |')
      // No Redis ceiling where the LRU never filled (nothing was evicted for capacity).
      expect(report).toContain(
        '| 1.1 | 100,000 (not full) | 400,000 | 1,000,000 | 0.4× | 100,000 | 4× | – | – |',
      )
      expect(report).toContain(
        '| 2 workers: events/s | 45,000 | naive per-event SQL upsert | 1,000 | 45× |',
      )
      expect(report).toContain('| 2 workers: events/s | 45,000 | 1 worker | 30,000 | 1.5× |')
      expect(report).toContain(
        '| consume (iterator), records/s | 150,000 | raw XREAD + JSON.parse | 200,000 | 0.75× |',
      )
      expect(report).toContain(
        '| consume (iterator), Node CPU µs/record | 3 | raw XREAD, Buffer replies + JSON.parse | 3 | 1× |',
      )
      expect(report).toContain('| answer | 42 | – | – | – |')
      // Every target with its verdict: under its section, and all of them in one table. A new
      // benchmark (mystery) states its targets in its result; the report needs no code for them.
      for (const line of [
        '- Target: model create + merge ÷ the Map loop ≥ 0.4×: 0.5× — met.',
        '- Target: executeMany ÷ naive on PostgreSQL ≥ 10×: 50× — met.',
        '- Target: LRU 10,000: heap bytes per entry ≤ 300: 600 — **missed**.',
        '- Target: LRU 10,000: events/s ≥ 1,000,000: 100,000 — **missed**.',
        '- Target: local path: events/s ≥ 1,000,000: 200,000 — **missed**.',
        '- Target: answers/s ≥ 40: 42 — met.',
        '- Target: µs per answer ≤ 2: 3 — **missed**.',
        '- Target: overhead ≤ 0.25×: 0.5× — **missed**.',
        '- Target: consume ÷ raw XREAD ≥ 0.7×: 0.75× — met.',
        "| [redis-shard](#redis-shard) | releases ÷ redis-benchmark's rate for the release script | ≥ 0.5× | 0.75× | met |",
        '| [mystery](#mystery) | µs per answer | ≤ 2 | 3 | **missed** |',
      ])
        expect(report).toContain(line)
      const overview = report.slice(report.indexOf('## Targets'), report.indexOf('## core'))
      expect(overview.match(/^\| \[/gm)).toHaveLength(10)
      expect(report).toContain('![The eviction-ratio curve](sweep.svg)')
      expectChartOf(
        readFileSync(join(dir, 'sweep.svg'), 'utf8'),
        fixtures.sweep as ReturnType<typeof sweepOf>,
      )
    })
  }, 20_000)

  it('fails when there is no result at all', () => {
    withResultsDir((dir) => {
      expect(() => runScript('src/summary.ts', [], dir)).toThrow(/no results/)
    })
  }, 20_000)
})
