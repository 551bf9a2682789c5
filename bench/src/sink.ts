/**
 * `@phonon/adapters-django-style` write throughput: rows/s of executions written one by one and
 * in batches, against the naive ORM way ("SELECT the row, then UPDATE it with the new total or
 * INSERT it": two round trips and a race per row), on PGlite (in process) and the shared
 * PostgreSQL server, in one run. Every execution carries a redis-shard style `(resourceId,
 * epoch)`, recorded in `phonon_executions` in the same transaction, as in production. Each
 * variant's table totals are checked against the expected ones. Writes bench/results/sink.json.
 *
 * Run: pnpm --filter @phonon/bench bench:sink [-- --rows N --keys N --batch N --rounds N]
 *      PGHOST/PGPORT/PGUSER/PGDATABASE select the PostgreSQL server (default 127.0.0.1:5432,
 *      postgres, test); the run creates a schema of its own and drops it.
 */
import { createSink, defineSqlModel, type Sink } from '@phonon/adapters-django-style'
import { id, sum } from '@phonon/core'
import { postgresConfig, seededRandom, uniqueName } from '@phonon/testkit'
import { formatRate, median, printTable, readFlags, writeResult } from './report.js'

const flags = readFlags({ rows: '4000', keys: '1000', batch: '500', rounds: '3', seed: '1' })
const rows = flags.integer('rows')
const keys = flags.integer('keys')
const batch = flags.integer('batch')
const rounds = flags.integer('rounds')
const seed = flags.integer('seed')
/** The target of the issue: batched executions ≥ 10× the naive baseline on PostgreSQL. */
const TARGET = 10

const Widget = defineSqlModel(
  'Widget',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'bench_widgets', collection: 'bench_widgets' },
)

/** One execution of the workload: a widget's session aggregate. */
interface Delta {
  readonly key: number
  readonly clicks: number
  readonly impressions: number
}

// The executions, generated before any timing: `rows` session aggregates over `keys` widgets.
const random = seededRandom(seed)
const deltas: Delta[] = Array.from({ length: rows }, () => ({
  key: Math.floor(random() * keys),
  clicks: Math.floor(random() * 5),
  impressions: 1 + Math.floor(random() * 50),
}))
const expected = new Map<number, { clicks: number; impressions: number }>()
for (const d of deltas) {
  const t = expected.get(d.key) ?? { clicks: 0, impressions: 0 }
  t.clicks += d.clicks
  t.impressions += d.impressions
  expected.set(d.key, t)
}

let epoch = 0
/** The updates and claims of one variant's round, ids prefixed so that rounds never collide. */
function claims(prefix: string) {
  return deltas.map((d) => {
    const update = Widget.create({
      id: `${prefix}-${d.key}`,
      clicks: d.clicks,
      impressions: d.impressions,
    })
    return { resourceId: update.resourceId, epoch: ++epoch, update }
  })
}

type Claim = ReturnType<typeof claims>[number]

type Variant = {
  readonly name: string
  /** Writes every delta under `prefix` (`work`: its claims); the sink then holds the totals. */
  run(sink: Sink, prefix: string, work: readonly Claim[]): Promise<void>
}

const variants: Variant[] = [
  {
    name: 'naive SELECT then UPDATE/INSERT (baseline)',
    async run(sink, prefix) {
      const db = sink.db
      for (const d of deltas) {
        const id = `${prefix}-${d.key}`
        const row = await db
          .selectFrom('bench_widgets')
          .select(['clicks', 'impressions'])
          .where('id', '=', id)
          .executeTakeFirst()
        if (row === undefined) {
          await db
            .insertInto('bench_widgets')
            .values({ id, clicks: d.clicks, impressions: d.impressions })
            .execute()
        } else {
          await db
            .updateTable('bench_widgets')
            .set({
              clicks: Number(row.clicks) + d.clicks,
              impressions: Number(row.impressions) + d.impressions,
            })
            .where('id', '=', id)
            .execute()
        }
      }
    },
  },
  {
    name: 'execute(claim), one at a time',
    async run(sink, _prefix, work) {
      for (const claim of work) await sink.execute(claim.update, claim)
    },
  },
  {
    name: 'execute() without claim, one at a time',
    async run(sink, _prefix, work) {
      for (const claim of work) await sink.execute(claim.update)
    },
  },
  {
    name: `executeMany, ${batch} claims per batch`,
    async run(sink, _prefix, work) {
      for (let i = 0; i < work.length; i += batch) {
        const { failed } = await sink.executeMany(work.slice(i, i + batch))
        if (failed.length > 0) throw failed[0]?.error
      }
    },
  },
]

/** Checks the table against the expected totals. */
async function check(sink: Sink, prefix: string, name: string): Promise<void> {
  const found = await Widget.objects.using(sink).all()
  const mine = new Map(found.filter((r) => r.id.startsWith(`${prefix}-`)).map((r) => [r.id, r]))
  if (mine.size !== expected.size)
    throw new Error(`${name}: ${mine.size} rows, ${expected.size} expected`)
  for (const [key, totals] of expected) {
    const row = mine.get(`${prefix}-${key}`)
    if (row?.clicks !== totals.clicks || row.impressions !== totals.impressions) {
      throw new Error(
        `${name}: widget ${key} holds ${JSON.stringify(row)}, ${JSON.stringify(totals)} expected`,
      )
    }
  }
}

/** The server's version and commit durability, which bound writes one at a time. */
async function serverInfo(sink: Sink): Promise<Record<string, string>> {
  const row = await sink.db
    .selectNoFrom((eb) => [
      eb.fn<string>('current_setting', [eb.val('server_version')]).as('version'),
      eb.fn<string>('current_setting', [eb.val('synchronous_commit')]).as('sync'),
    ])
    .executeTakeFirstOrThrow()
  return { version: String(row.version), synchronousCommit: String(row.sync) }
}

/** Rows/s of every variant on one sink: a warm-up, then `rounds` interleaved rounds, medians. */
async function measure(label: string, sink: Sink): Promise<Map<string, number[]>> {
  await sink.migrate([Widget.sqlModel])
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]))
  for (const [i, variant] of variants.entries()) {
    await variant.run(sink, `warm${i}`, claims(`warm${i}`))
  }
  for (let round = 0; round < rounds; round++) {
    for (const [i, variant] of variants.entries()) {
      const prefix = `r${round}v${i}`
      const work = claims(prefix)
      const started = performance.now()
      await variant.run(sink, prefix, work)
      const seconds = (performance.now() - started) / 1000
      await check(sink, prefix, `${label} ${variant.name}`)
      samples.get(variant.name)?.push(rows / seconds)
    }
  }
  return samples
}

const pgSchema = uniqueName('phonon_bench')
const backends: Array<[string, () => Promise<Sink>]> = [
  ['pglite', () => createSink({ dialect: 'pglite' })],
  [
    'postgres',
    () =>
      createSink({
        dialect: 'postgres',
        pool: { ...postgresConfig(), max: 4 },
        schema: pgSchema,
      }),
  ],
]

const results: Record<string, Record<string, unknown>> = {}
const table: string[][] = []
for (const [label, open] of backends) {
  const sink = await open()
  let samples: Map<string, number[]>
  let server: Record<string, string>
  try {
    server = await serverInfo(sink)
    samples = await measure(label, sink)
  } finally {
    if (label === 'postgres')
      await sink.db.schema.dropSchema(pgSchema).ifExists().cascade().execute()
    await sink.close()
  }
  const rate = (name: string) => median(samples.get(name) ?? [])
  const [naive, single, plain, batched] = variants.map((v) => rate(v.name)) as [
    number,
    number,
    number,
    number,
  ]
  results[label] = {
    server,
    naiveRowsPerSec: Math.round(naive),
    singleRowsPerSec: Math.round(single),
    singleWithoutClaimRowsPerSec: Math.round(plain),
    batchedRowsPerSec: Math.round(batched),
    batchedToNaive: batched / naive,
    singleToNaive: single / naive,
    samples: Object.fromEntries([...samples].map(([name, s]) => [name, s.map(Math.round)])),
  }
  for (const variant of variants) {
    table.push([
      `${label}: ${variant.name}`,
      formatRate(rate(variant.name)),
      `${(rate(variant.name) / naive).toFixed(2)}×`,
    ])
  }
}

printTable(['variant', 'rows/s', 'vs naive'], table)
const postgres = results.postgres as { batchedToNaive: number }
const file = writeResult('sink', {
  workload: {
    rows,
    keys,
    batch,
    rounds,
    seed,
    statistic: 'median',
    executions: 'every execution carries (resourceId, epoch), recorded in phonon_executions',
    naive: 'SELECT then UPDATE or INSERT per row, no transaction (racy: the ORM read-modify-write)',
    concurrency: 'one client, sequential',
  },
  postgres: results.postgres,
  pglite: results.pglite,
  target: { batchedToNaiveOnPostgres: TARGET, met: postgres.batchedToNaive >= TARGET },
})
console.log(
  `\nbatched ÷ naive on PostgreSQL: ${postgres.batchedToNaive.toFixed(1)}× (target ≥ ${TARGET}×)`,
)
console.log(`wrote ${file}`)
