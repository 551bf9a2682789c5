/**
 * The report: reads every bench/results/*.json (or those of `PHONON_BENCH_RESULTS`) and writes
 * there `REPORT.md` — the machine and date of each result, every target with its verdict (met or
 * missed), then one table per benchmark with each figure next to its baseline and the ratio — and,
 * when there is a sweep, `sweep.svg`, its chart. Runs nothing; the last step of `pnpm bench`.
 *
 * Run: pnpm --filter @phonon/bench bench:report
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type SweepResult, sweepChart } from './chart.js'
import { RESULTS_DIR } from './report.js'
import {
  describeTarget,
  formatRatio,
  formatValue,
  get,
  ORDER,
  type Result,
  type Section,
  section,
  verdict,
} from './tables.js'

/** Escapes a Markdown table cell. */
const cell = (text: string) => text.replaceAll('|', '\\|').replaceAll('\n', ' ')

/** A Markdown table; columns of numbers (and ratios) are right-aligned. */
function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const numeric = (i: number) =>
    rows.every((r) => /^(–|[\d,.]+( GiB|×)?( \(not full\))?)$/.test(r[i] ?? '–'))
  const align = header.map((_, i) => (i > 0 && numeric(i) ? '---:' : '---'))
  return [header, align, ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n')
}

/** The servers a result names (Redis; PostgreSQL and PGlite), for the machine table. */
function servers(r: Result): { redis: string; sql: string } {
  const redis = get(r, 'workload.redis') ?? get(r, 'redis')
  const sql = ['postgres', 'pglite', 'sql']
    .map((b) => [b, get(r, `${b}.server.version`) ?? get(r, `workload.${b}`)] as const)
    .filter(([, v]) => typeof v === 'string')
    .map(([b, v]) => `${b} ${v}`)
  return { redis: typeof redis === 'string' ? redis : '–', sql: sql.join(', ') || '–' }
}

const files = readdirSync(RESULTS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
const results = new Map<string, Result>()
for (const file of files) {
  const parsed = JSON.parse(readFileSync(new URL(file, RESULTS_DIR), 'utf8')) as Result
  const name = typeof parsed.benchmark === 'string' ? parsed.benchmark : file.slice(0, -5)
  results.set(name, parsed)
}
const names = [
  ...ORDER.filter((n) => results.has(n)),
  ...[...results.keys()].filter((n) => !ORDER.includes(n)).sort(),
]
if (names.length === 0) {
  throw new Error(`no results in ${fileURLToPath(RESULTS_DIR)}: run pnpm bench first`)
}

const machines = names.map((name) => {
  const r = results.get(name) as Result
  const m = (key: string) => String(get(r, `machine.${key}`) ?? '–')
  const { redis, sql } = servers(r)
  return [
    `[${name}](#${name})`,
    String(get(r, 'date') ?? '–')
      .replace('T', ' ')
      .slice(0, 16),
    m('cpus'),
    m('cpuModel'),
    `${m('memoryGiB')} GiB`,
    m('node'),
    m('platform'),
    redis,
    sql,
  ]
})

const sections: Section[] = names.map((name) => section(name, results.get(name) as Result))
const lines = [
  '# phonon benchmark report',
  '',
  'Written by `pnpm --filter @phonon/bench bench:report` (the last step of `pnpm bench`) from',
  '`bench/results/*.json`; do not edit by hand. Every figure stands next to its baseline, measured',
  'in the same run on the same machine, and the ratio of the two (value ÷ baseline value). See',
  '[bench/README.md](../README.md) for what each benchmark does.',
  '',
  '## Machines and dates',
  '',
  table(
    ['benchmark', 'date (UTC)', 'cores', 'CPU', 'memory', 'Node', 'platform', 'Redis', 'SQL'],
    machines,
  ),
  '',
  '## Targets',
  '',
  table(
    ['benchmark', 'target', 'goal', 'measured', 'verdict'],
    sections.flatMap((s) =>
      s.targets.map((t) => {
        const format = t.ratio ? formatRatio : formatValue
        const v = verdict(t)
        return [
          `[${s.benchmark}](#${s.benchmark})`,
          t.what,
          `${t.better === 'higher' ? '≥' : '≤'} ${format(t.goal)}`,
          format(t.value),
          v === 'met' ? v : `**${v}**`,
        ]
      }),
    ),
  ),
  '',
]
for (const s of sections) {
  lines.push(`## ${s.benchmark}`, '', s.about, '', table(s.header, s.rows), '')
  for (const t of s.targets) lines.push(`- Target: ${describeTarget(t)}.`)
  for (const note of s.notes.filter((n) => n !== '')) lines.push(`- ${note}`)
  if (s.benchmark === 'sweep') lines.push('', '![The eviction-ratio curve](sweep.svg)')
  lines.push('')
}
const report = new URL('REPORT.md', RESULTS_DIR)
writeFileSync(report, `${lines.join('\n').trimEnd()}\n`)
console.log(`wrote ${fileURLToPath(report)} (${names.join(', ')})`)

const sweep = results.get('sweep')
if (sweep !== undefined) {
  const chart = new URL('sweep.svg', RESULTS_DIR)
  writeFileSync(chart, sweepChart(sweep as unknown as SweepResult))
  console.log(`wrote ${fileURLToPath(chart)}`)
}
