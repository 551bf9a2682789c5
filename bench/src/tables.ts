/**
 * The REPORT.md table of each benchmark: every figure next to its baseline (measured in the same
 * run) and the ratio of the two, and a met / missed verdict for each of its targets. Results are
 * read as plain JSON, so a figure a result lacks leaves its row out rather than failing the report.
 *
 * A benchmark states its targets in its result as `targets: [{ what, value, goal, better }]` (see
 * {@link Target}): every section shows them with their verdicts, with no code here for it. The
 * older results (core, redis-shard, lru-update, sink) name theirs in their own shapes, which the
 * builders below translate.
 *
 * @module
 */

/** A parsed bench/results/*.json. */
export type Result = Readonly<Record<string, unknown>>

/** One benchmark's part of the report. */
export interface Section {
  readonly benchmark: string
  /** What the benchmark measures, one sentence. */
  readonly about: string
  readonly header: readonly string[]
  readonly rows: ReadonlyArray<readonly string[]>
  /** Lines under the table: workload, context. */
  readonly notes: readonly string[]
  /** Its targets, each with the figure measured. */
  readonly targets: readonly Target[]
}

/** A target of a benchmark: the figure measured, the goal, and which way is better. */
export interface Target {
  /** What is measured, e.g. `LRU 100,000: events/s`. */
  readonly what: string
  /** The figure measured (undefined: not measured in this result). */
  readonly value: number | undefined
  readonly goal: number
  /** `higher`: met when value ≥ goal; `lower`: met when value ≤ goal. */
  readonly better: 'higher' | 'lower'
  /** Shown as a ratio (`0.42×`) rather than a count. */
  readonly ratio?: boolean
}

/** Whether a target was met. */
export function verdict(target: Target): 'met' | 'missed' | 'not measured' {
  if (target.value === undefined) return 'not measured'
  const met = target.better === 'higher' ? target.value >= target.goal : target.value <= target.goal
  return met ? 'met' : 'missed'
}

/** `LRU 10,000: events/s ≥ 1,000,000: 49,451 — **missed**` */
export function describeTarget(target: Target): string {
  const format = target.ratio ? formatRatio : formatValue
  const v = verdict(target)
  return `${target.what} ${target.better === 'higher' ? '≥' : '≤'} ${format(target.goal)}: ${format(target.value)} — ${v === 'met' ? v : `**${v}**`}`
}

/** The targets a result states itself, `targets: [{ what, value, goal, better, ratio? }]`. */
function statedTargets(r: Result): Target[] {
  const targets = get(r, 'targets')
  if (!Array.isArray(targets)) return []
  return targets.flatMap((t: unknown) => {
    const what = get(t, 'what')
    const goal = num(t, 'goal')
    const better = get(t, 'better')
    if (typeof what !== 'string' || goal === undefined) return []
    if (better !== 'higher' && better !== 'lower') return []
    return [{ what, value: num(t, 'value'), goal, better, ratio: get(t, 'ratio') === true }]
  })
}

/** The value at a dotted path (`a.b`), or undefined. */
export function get(result: unknown, path: string): unknown {
  let value: unknown = result
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined
    value = (value as Record<string, unknown>)[key]
  }
  return value
}

/** The number at a dotted path, or undefined (also for null, NaN and non-numbers). */
export function num(result: unknown, path: string): number | undefined {
  const value = get(result, path)
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined
}

/** A rate or count: `1,234,567`, fewer digits below 10. */
export function formatValue(n: number | undefined): string {
  if (n === undefined) return '–'
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US')
  return Number(n.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 4 })
}

/** A ratio as `0.86×`, two significant digits (three at 10 and above). */
export function formatRatio(ratio: number | undefined): string {
  if (ratio === undefined || !Number.isFinite(ratio)) return '–'
  return `${Number(ratio.toPrecision(3))}×`
}

/** The columns of every figure-against-baseline table. */
const HEADER = ['measure', 'value', 'baseline', 'baseline value', 'ratio'] as const

/** A row: a figure, its baseline, and their ratio (left blank when either is missing). */
function row(
  measure: string,
  value: number | undefined,
  baseline: string,
  baselineValue: number | undefined,
): string[] {
  const ratio = value !== undefined && baselineValue ? value / baselineValue : undefined
  return [measure, formatValue(value), baseline, formatValue(baselineValue), formatRatio(ratio)]
}

/** A target on a ratio that should reach `goal` (undefined when the result names no goal). */
function ratioTarget(what: string, value: number | undefined, goal: number | undefined): Target[] {
  return goal === undefined ? [] : [{ what, value, goal, better: 'higher', ratio: true }]
}

function core(r: Result): Section {
  const variants = Object.entries((get(r, 'variants') ?? {}) as Record<string, unknown>)
  const [baselineName, baseline] = variants.find(([name]) => name.includes('baseline')) ?? []
  const base = num(baseline, 'eventsPerSec')
  const ratio = num(r, 'ratio')
  const target = num(r, 'target.ratio')
  return {
    benchmark: 'core',
    about: 'Local merge throughput of `@phonon/core` over pre-generated Zipf events (events/s).',
    header: HEADER,
    rows: variants
      .filter(([name]) => name !== baselineName)
      .map(([name, v]) =>
        row(`${name}, events/s`, num(v, 'eventsPerSec'), 'hand-written Map loop', base),
      ),
    notes: [workloadNote(r)],
    targets: ratioTarget('model create + merge ÷ the Map loop', ratio, target),
  }
}

function redisShard(r: Result): Section {
  const equivalent = num(r, 'redisBenchmarkEquivalentPerSec')
  const minimal = num(r, 'redisBenchmarkMinimalPerSec')
  const held = num(r, 'releasesPerSec')
  const ratio = num(r, 'ratioToRedisBenchmark')
  const target = num(r, 'target.ratioToRedisBenchmark')
  return {
    benchmark: 'redis-shard',
    about:
      'Release throughput of `@phonon/redis-shard` on a private redis-server, pipelined (releases/s).',
    header: HEADER,
    rows: [
      row(
        'releases/s, resource held elsewhere',
        held,
        'redis-benchmark, the release script',
        equivalent,
      ),
      row(
        'releases/s, with claims and completes',
        num(r, 'releasesWithClaimsPerSec'),
        'redis-benchmark, the release script',
        equivalent,
      ),
      row(
        'releases/s, resource held elsewhere',
        held,
        'redis-benchmark, a 6-command script',
        minimal,
      ),
    ],
    notes: [
      `Naive per-event INCRBY ×2 on the same server (what a user writes without phonon): ${formatValue(num(r, 'naiveIncrbyEventsPerSec'))} events/s.`,
      workloadNote(r),
    ],
    targets: [
      ...perSessionTargets(r),
      ...ratioTarget("releases ÷ redis-benchmark's rate for the release script", ratio, target),
    ],
  }
}

/** The budgets of one ended session of a lone worker (`perSession` against `target`). */
function perSessionTargets(r: Result): Target[] {
  const budgets = [
    ['calls', 'per session: redis.calls', false],
    ['bytesSent', 'per session: bytes sent', false],
    ['ratioToBaseline', 'per session: Redis CPU ÷ the minimal one-hash script', true],
  ] as const
  return budgets.flatMap(([key, what, ratio]) => {
    const goal = num(r, `target.${key}`)
    return goal === undefined
      ? []
      : [{ what, value: num(r, `perSession.${key}`), goal, better: 'lower' as const, ratio }]
  })
}

function lruUpdate(r: Result): Section {
  const runs = Object.entries(r).filter(([key]) => /^lru\d/.test(key))
  const rows: string[][] = []
  for (const [, run] of runs) {
    const rate = num(run, 'eventsPerSec')
    const lru = `LRU ${formatValue(num(run, 'max'))}`
    rows.push(
      row(
        `${lru}: events/s`,
        rate,
        'core merge, no Redis',
        num(r, 'baselines.coreMergeEventsPerSec'),
      ),
      row(
        `${lru}: events/s`,
        rate,
        'per-event HINCRBY',
        num(r, 'baselines.perEventHincrbyEventsPerSec'),
      ),
      row(
        `${lru}: events/s`,
        rate,
        'Redis ceiling (release script rate ÷ evictions/event)',
        num(run, 'ceilingEventsPerSec'),
      ),
    )
    const targetBytes = num(r, 'targets.bytesPerEntry')
    rows.push(row(`${lru}: heap bytes per entry`, num(run, 'bytesPerEntry'), 'target', targetBytes))
  }
  const perRun = runs.map(
    ([, run]) =>
      `LRU ${formatValue(num(run, 'max'))}: ${formatValue(num(run, 'evictionsPerEvent'))} evictions/event, hit ratio ${formatValue(num(run, 'hitRatio'))}, ${formatValue(num(run, 'scriptsPerEvent'))} scripts/event, flush p50/p99 ${formatValue(num(run, 'flushLatencyMs.p50'))}/${formatValue(num(run, 'flushLatencyMs.p99'))} ms.`,
  )
  return {
    benchmark: 'lru-update',
    about:
      'One `@phonon/lru-update` worker end to end on a private redis-server: every event offered, sessions released, executed by a no-op sink (events/s).',
    header: HEADER,
    rows,
    notes: [...perRun, workloadNote(r)],
    targets: lruUpdateTargets(r, runs),
  }
}

/** The lru-update run figures targets bound, as the report names them. */
const LRU_FIGURES: Readonly<Record<string, string>> = {
  eventsPerSec: 'events/s',
  ratioToCeiling: 'events/s ÷ the Redis ceiling',
  ratioToPerEvent: 'events/s ÷ per-event HINCRBY',
  bytesPerEntry: 'heap bytes per entry',
}

/**
 * The lru-update result's targets, an object of goals named for what they bound: a part of the
 * result and one of its figures (`lru100kEventsPerSec`: `lru100k.eventsPerSec`,
 * `localPathEventsPerSec`: `localPath.eventsPerSec`), or a figure of every LRU run
 * (`bytesPerEntry`, at most).
 */
function lruUpdateTargets(r: Result, runs: ReadonlyArray<readonly [string, unknown]>): Target[] {
  const goals = get(r, 'targets')
  if (goals === null || typeof goals !== 'object' || Array.isArray(goals)) return []
  const parts = Object.keys(r).filter((k) => k !== 'targets' && typeof r[k] === 'object')
  return Object.entries(goals).flatMap(([name, goal]): Target[] => {
    if (typeof goal !== 'number') return []
    const part = parts.find((p) => name.startsWith(p) && name.length > p.length)
    const key = (part ? name.slice(part.length) : name).replace(/^\w/, (c) => c.toLowerCase())
    const chosen = part ? ([[part, r[part]]] as const) : runs
    return chosen.map(([id, data]) => ({
      what: `${/^lru\d/.test(id) ? `LRU ${formatValue(num(data, 'max'))}` : id.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)}: ${LRU_FIGURES[key] ?? key}`,
      value: num(data, key),
      goal,
      better: key === 'bytesPerEntry' ? 'lower' : 'higher',
      ratio: key.startsWith('ratio'),
    }))
  })
}

function sink(r: Result): Section {
  const rows: string[][] = []
  for (const backend of ['postgres', 'pglite']) {
    const b = get(r, backend)
    if (b === undefined) continue
    const naive = num(b, 'naiveRowsPerSec')
    const baseline = 'naive SELECT then UPDATE/INSERT'
    rows.push(
      row(
        `${backend}: execute(claim), one at a time, rows/s`,
        num(b, 'singleRowsPerSec'),
        baseline,
        naive,
      ),
      row(
        `${backend}: execute() without claim, rows/s`,
        num(b, 'singleWithoutClaimRowsPerSec'),
        baseline,
        naive,
      ),
      row(`${backend}: executeMany, rows/s`, num(b, 'batchedRowsPerSec'), baseline, naive),
    )
  }
  const ratio = num(r, 'postgres.batchedToNaive')
  const target = num(r, 'target.batchedToNaiveOnPostgres')
  const servers = ['postgres', 'pglite']
    .filter((b) => get(r, `${b}.server.version`) !== undefined)
    .map(
      (b) =>
        `${b} ${String(get(r, `${b}.server.version`))} (synchronous_commit ${String(get(r, `${b}.server.synchronousCommit`))})`,
    )
  return {
    benchmark: 'sink',
    about: 'SQL writes of executions by `@phonon/adapters-django-style` (rows/s).',
    header: HEADER,
    rows,
    notes: [...(servers.length > 0 ? [`Servers: ${servers.join('; ')}.`] : []), workloadNote(r)],
    targets: ratioTarget('executeMany ÷ naive on PostgreSQL', ratio, target),
  }
}

function sweep(r: Result): Section {
  const points = (get(r, 'points') ?? []) as readonly unknown[]
  const core = (get(r, 'baselines.coreMergeEventsPerSec') ?? {}) as Record<string, number>
  const perEvent = (get(r, 'baselines.perEventHincrbyEventsPerSec') ?? {}) as Record<string, number>
  const rows = points.map((p) => {
    const rate = num(p, 'steadyEventsPerSec')
    const base = core[String(num(p, 'skew'))]
    const naive = perEvent[String(num(p, 'skew'))]
    const full = get(p, 'fullAtStart') !== false
    // An LRU that never filled evicted nothing for capacity: no Redis ceiling to compare with.
    const ceiling = full ? num(p, 'ceilingEventsPerSec') : undefined
    return [
      String(num(p, 'skew')),
      `${formatValue(num(p, 'max'))}${full ? '' : ' (not full)'}`,
      formatValue(rate),
      formatValue(base),
      formatRatio(rate !== undefined && base ? rate / base : undefined),
      formatValue(naive),
      formatRatio(rate !== undefined && naive ? rate / naive : undefined),
      formatValue(ceiling),
      formatRatio(rate !== undefined && ceiling ? rate / ceiling : undefined),
      formatValue(num(p, 'evictionsPerEvent')),
      formatValue(num(p, 'hitRatio')),
      formatValue(num(p, 'scriptsPerEvent')),
    ]
  })
  return {
    benchmark: 'sweep',
    about:
      'The eviction-ratio curve: one lru-update worker per point, after a warm-up that fills its LRU, over LRU sizes × Zipf skews (steady events/s: offers and the flusher’s drain).',
    header: [
      'Zipf skew',
      'LRU size',
      'events/s',
      'core merge (baseline)',
      'ratio',
      'per-event HINCRBY (baseline)',
      'ratio',
      'Redis ceiling (baseline)',
      'ratio',
      'evictions/event',
      'hit ratio',
      'scripts/event',
    ],
    rows,
    notes: [
      '“not full”: the LRU was not full when the measurement started (the warm-up saw fewer keys than it holds), so nothing was evicted for capacity and there is no Redis ceiling. The Redis ceiling is the release script’s redis-benchmark rate ÷ evictions per event. Chart: [sweep.svg](sweep.svg).',
      workloadNote(r),
    ],
    targets: [],
  }
}

function e2e(r: Result): Section {
  const runs = (get(r, 'runs') ?? []) as readonly unknown[]
  const naive = num(r, 'baselines.perEventUpsertEventsPerSec')
  const one = num(runs[0], 'eventsPerSec')
  const rows: string[][] = []
  for (const run of runs) {
    const workers = `${formatValue(num(run, 'workers'))} worker${num(run, 'workers') === 1 ? '' : 's'}`
    rows.push(
      row(`${workers}: events/s`, num(run, 'eventsPerSec'), 'naive per-event SQL upsert', naive),
      row(
        `${workers}: events per SQL statement`,
        num(run, 'eventsPerSqlStatement'),
        'naive per-event SQL upsert',
        1,
      ),
    )
    if (run !== runs[0]) {
      rows.push(row(`${workers}: events/s`, num(run, 'eventsPerSec'), '1 worker', one))
    }
  }
  const checks = runs.map(
    (run) =>
      `${formatValue(num(run, 'workers'))} worker(s): table check ${get(run, 'check') === true ? '✔ exact' : '✘ **failed**'}, ${formatValue(num(run, 'redisRoundTrips'))} Redis round trips, ${formatValue(num(run, 'sqlStatements'))} SQL statements, ${formatValue(num(run, 'wallMs'))} ms.`,
  )
  return {
    benchmark: 'e2e',
    about:
      'The main job end to end (generator → Redis Streams → worker processes → RedisShard → SQL), at a larger scale, with 1 and 2 workers (events/s of the whole run).',
    header: HEADER,
    rows,
    notes: [...checks, workloadNote(r)],
    targets: [],
  }
}

function streams(r: Result): Section {
  const rate = (path: string) => num(r, `${path}.recordsPerSec`)
  const cpu = (path: string) => num(r, `${path}.nodeCpuMicrosPerRecord`)
  const xadd = 'raw pipelined XADD'
  const xread = 'raw XREAD + JSON.parse'
  const rows = [
    row('put (putMany), records/s', rate('put'), xadd, rate('rawPut')),
    row('put (putMany), Node CPU µs/record', cpu('put'), xadd, cpu('rawPut')),
    row('consume (iterator), records/s', rate('consume'), xread, rate('rawConsume')),
    row('consume (iterator), Node CPU µs/record', cpu('consume'), xread, cpu('rawConsume')),
    row(
      'consume (iterator), records/s',
      rate('consume'),
      'raw XREAD, no parsing',
      rate('rawConsumeUnparsed'),
    ),
    row(
      'consume (iterator), records/s',
      rate('consume'),
      'raw XREAD, Buffer replies + JSON.parse',
      rate('rawConsumeBuffers'),
    ),
    row(
      'consume (iterator), Node CPU µs/record',
      cpu('consume'),
      'raw XREAD, Buffer replies + JSON.parse',
      cpu('rawConsumeBuffers'),
    ),
    row('aggregated put, records/s', rate('aggregated.put'), xadd, rate('rawPut')),
    row('aggregated consume, records/s', rate('aggregated.consume'), xread, rate('rawConsume')),
    row('Worker + phononSource, records/s', rate('source'), xread, rate('rawConsume')),
    row('Worker + phononSource, Node CPU µs/record', cpu('source'), xread, cpu('rawConsume')),
    row(
      'Kinesis put (kinesalite), records/s',
      rate('kinesis.put'),
      'SDK PutRecords',
      rate('kinesis.sdkPut'),
    ),
    row(
      'Kinesis consume (kinesalite), records/s',
      rate('kinesis.consume'),
      'SDK GetRecords',
      rate('kinesis.sdkConsume'),
    ),
  ].filter((cells) => cells[1] !== '–')
  const note = get(r, 'consumeNote')
  return {
    benchmark: 'streams',
    about:
      '`@phonon/streams` put and consume on a private redis-server against raw ioredis in the same run (records/s, Node CPU µs per record), best of the runs.',
    header: HEADER,
    rows,
    notes: [
      `${formatValue(num(r, 'records'))} records over ${formatValue(num(r, 'shards'))} shards, best of ${formatValue(num(r, 'runs'))}.`,
      ...(typeof note === 'string' ? [note] : []),
      ...(typeof get(r, 'kinesis.note') === 'string'
        ? [`Kinesis: ${String(get(r, 'kinesis.note'))}.`]
        : []),
    ],
    targets: [],
  }
}

/** Any other benchmark: its top-level numbers, with no baseline known. */
function generic(name: string, r: Result): Section {
  const rows = Object.entries(r)
    .filter(([, v]) => typeof v === 'number')
    .map(([key, v]) => row(key, v as number, '–', undefined))
  return {
    benchmark: name,
    about: 'A benchmark this report does not know; its top-level figures.',
    header: HEADER,
    rows,
    notes: [workloadNote(r)],
    targets: [],
  }
}

/** The workload, as one line of `key value` pairs. */
function workloadNote(r: Result): string {
  const workload = get(r, 'workload')
  if (workload === null || typeof workload !== 'object') return ''
  const parts = Object.entries(workload)
    .map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v] as const)
    .filter(([, v]) => typeof v === 'number' || (typeof v === 'string' && v.length <= 40))
    .map(([k, v]) => `${k} ${typeof v === 'number' ? formatValue(v) : v}`)
  return parts.length === 0 ? '' : `Workload: ${parts.join(', ')}.`
}

const BUILDERS: Readonly<Record<string, (r: Result) => Section>> = {
  core,
  'redis-shard': redisShard,
  'lru-update': lruUpdate,
  sink,
  sweep,
  e2e,
  streams,
}

/** The benchmarks in the order of `pnpm bench`; others follow, by name. */
export const ORDER = [
  ...Object.keys(BUILDERS).filter((name) => name !== 'streams'),
  'events',
  'streams',
]

/**
 * The table of one result.
 *
 * @param name - the benchmark (the file's name without `.json`).
 * @param result - its parsed JSON.
 */
export function section(name: string, result: Result): Section {
  const build = BUILDERS[name]
  const built = build === undefined ? generic(name, result) : build(result)
  return { ...built, targets: [...built.targets, ...statedTargets(result)] }
}
