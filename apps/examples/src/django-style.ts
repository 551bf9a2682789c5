/**
 * The seed's `BaseUpdate`: merge and execute written once, shared by `WidgetUpdate`,
 * `UserUpdate` and `FooUpdate`, which only say which table they update. Here each table is a
 * model declared with the SQL adapter's `defineSqlModel`: its fields are the shared merge (each
 * column by its rule: integers add, a `max` column keeps the larger), and its `execute(claim)` is
 * one atomic upsert per session (`clicks = widgets.clicks + excluded.clicks`), recorded with the
 * claim's `(resourceId, epoch)` so a re-run writes nothing. The seed's shared execute (log the
 * error, let the aggregator retry) is one function, {@link baseExecute}, the aggregator's
 * `execute` for every model. A stream of the seed's widget events, each feeding three updates,
 * goes through an lru-update aggregator (on a MemoryShard) into three tables on PGlite; the
 * check: each table equals the ground truth.
 *
 * Run: pnpm --filter @phonon/examples exec tsx --conditions=@phonon/source src/django-style.ts
 *      [-- --events N --max N]
 */
import { column, createSink, defineSqlModel } from '@phonon/adapters-django-style'
import { Codec, id, max, sum } from '@phonon/core'
import { createAggregator } from '@phonon/lru-update'
import { type Claim, MemoryShard } from '@phonon/redis-shard'
import { createZipf, seededRandom } from '@phonon/testkit'
import { type Command, type Flag, type FlagValues, flag, runCli } from './cli.js'

// The tables (the seed's Django models). The seed's widgets are keyed by (parent, target): an
// update's id names both, as 'parent:target'.
export const Widget = defineSqlModel(
  'WidgetUpdate',
  { id: id(), clicks: sum(), impressions: sum() },
  {
    table: 'widgets',
    key: { parent_post_id: column.integer(), target_post_id: column.integer() },
  },
)
export const User = defineSqlModel(
  'UserUpdate',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'users' },
)
export const Foo = defineSqlModel(
  'FooUpdate',
  { id: id(), total: sum(), largest: max() },
  { table: 'foos', columns: { largest: column.integer({ merge: 'max' }) } },
)

/**
 * The seed's `BaseUpdate.execute`, once for every model: the update's own upsert-with-merge
 * under the claim; a database error is logged (as the seed did) and rethrown, so the aggregator
 * retries the execution instead of losing the session.
 */
export async function baseExecute(claim: Claim): Promise<void> {
  try {
    await claim.update.execute(claim)
  } catch (error) {
    console.error(`error updating ${claim.resourceId}:`, error)
    throw error
  }
}

type Row = Record<string, unknown>

/** One event of the seed's stream, with the user who caused it. */
interface WidgetEvent {
  readonly parent_post_id: number
  readonly target_post_id: number
  readonly event_type: 'clicks' | 'impressions'
  readonly user: string
}

/** Options of {@link runDjangoStyle}. */
export interface DjangoStyleOptions {
  readonly events: number
  /** LRU entries of the aggregator. */
  readonly max: number
  readonly seed: number
}

/** What a run did and whether every table is exact. */
export interface DjangoStyleSummary {
  readonly events: number
  readonly updates: number
  /** Upserts executed (one per session of a row), and the SQL statements they took. */
  readonly executions: number
  readonly sqlStatements: number
  /** Per table: rows, and whether the table equals the ground truth. */
  readonly tables: Readonly<Record<'widgets' | 'users' | 'foos', { rows: number; exact: boolean }>>
  /** Executions by model (update type), each through {@link baseExecute}. */
  readonly executedBy: Readonly<Record<string, number>>
  readonly wallMs: number
  readonly check: boolean
}

/** Runs the stream into PGlite and compares each table with the ground truth. */
export async function runDjangoStyle(options: DjangoStyleOptions): Promise<DjangoStyleSummary> {
  const started = performance.now()
  let sqlStatements = 0
  const sink = await createSink({
    dialect: 'pglite',
    models: [Widget.sqlModel, User.sqlModel, Foo.sqlModel],
    log: () => void sqlStatements++,
  })
  try {
    await sink.migrate()
    for (const model of [Widget, User, Foo]) model.sqlModel.bind(sink) // they execute into it
    sqlStatements = 0

    const codec = new Codec([Widget, User, Foo])
    const executedBy: Record<string, number> = {}
    const aggregator = createAggregator({
      shard: new MemoryShard({ codec }),
      max: options.max,
      execute: async (claim) => {
        await baseExecute(claim)
        executedBy[claim.typeName] = (executedBy[claim.typeName] ?? 0) + 1
      },
    })

    const zipf = createZipf({ n: 1_000, s: 1.1, seed: options.seed })
    const random = seededRandom(options.seed)
    const truth = {
      widgets: new Map<string, Row>(),
      users: new Map<string, Row>(),
      foos: new Map<string, Row>(),
    }
    const expect = (table: Map<string, Row>, key: string, empty: Row, add: (row: Row) => void) => {
      const row = table.get(key) ?? empty
      add(row)
      table.set(key, row)
    }

    for (let i = 0; i < options.events; i++) {
      const widget = zipf.next() - 1
      const event: WidgetEvent = {
        parent_post_id: Math.floor(widget / 100),
        target_post_id: widget % 100,
        event_type: random() < 0.1 ? 'clicks' : 'impressions',
        user: `u${Math.floor(random() * 300)}`,
      }
      const { parent_post_id, target_post_id, event_type, user } = event
      const widgetId = `${parent_post_id}:${target_post_id}`
      const foo = `f${i % 50}`
      const value = 1 + Math.floor(random() * 100)

      // The seed: WidgetUpdate(_id="p.t", spec={parent_post_id, target_post_id}, doc={evt: 1}).
      await aggregator.offer(Widget.create({ id: widgetId, [event_type]: 1 }))
      await aggregator.offer(User.create({ id: user, [event_type]: 1 }))
      await aggregator.offer(Foo.create({ id: foo, total: value, largest: value }))

      const empty = { clicks: 0, impressions: 0 }
      expect(truth.widgets, widgetId, { parent_post_id, target_post_id, ...empty }, (r) => {
        r[event_type] = Number(r[event_type]) + 1
      })
      expect(truth.users, user, { id: user, ...empty }, (r) => {
        r[event_type] = Number(r[event_type]) + 1
      })
      expect(truth.foos, foo, { id: foo, total: 0, largest: 0 }, (r) => {
        r.total = Number(r.total) + value
        r.largest = Math.max(Number(r.largest), value)
      })
    }
    await aggregator.close() // ends every session: each executes its upsert
    const { executions, failures } = aggregator.stats()

    // Each table, row by row, against the ground truth.
    const exact = (
      rows: ReadonlyArray<Row>,
      expected: Map<string, Row>,
      key: (row: Row) => string,
    ) =>
      rows.length === expected.size &&
      rows.every((row) => {
        const want = expected.get(key(row))
        return want !== undefined && Object.entries(want).every(([k, v]) => row[k] === v)
      })
    const widgets = await Widget.objects.using(sink).all()
    const users = await User.objects.using(sink).all()
    const foos = await Foo.objects.using(sink).all()
    const tables = {
      widgets: {
        rows: widgets.length,
        exact: exact(widgets, truth.widgets, (r) => `${r.parent_post_id}:${r.target_post_id}`),
      },
      users: { rows: users.length, exact: exact(users, truth.users, (r) => String(r.id)) },
      foos: { rows: foos.length, exact: exact(foos, truth.foos, (r) => String(r.id)) },
    }
    return {
      events: options.events,
      updates: options.events * 3,
      executions,
      sqlStatements,
      tables,
      executedBy,
      wallMs: Math.round(performance.now() - started),
      check: failures === 0 && Object.values(tables).every((t) => t.exact),
    }
  } finally {
    await sink.close()
  }
}

/** The command line: `pnpm --filter @phonon/examples example:django-style --help`. */
export const command = {
  name: 'example:django-style',
  summary:
    "The seed's BaseUpdate: WidgetUpdate, UserUpdate and FooUpdate models sharing one execute, into PGlite; checks each table.",
  flags: {
    events: flag.events(20_000, 'widget events'),
    max: flag.count(1_000, 'LRU entries', 1_000_000),
    seed: flag.seed,
  },
} satisfies Command<Record<string, Flag>>

async function main(flags: FlagValues<typeof command.flags>): Promise<boolean> {
  const summary = await runDjangoStyle(flags)
  console.log(
    `${summary.events} events → ${summary.updates} updates → ${summary.executions} upserts in ${summary.sqlStatements} SQL statements (${summary.wallMs} ms)`,
  )
  for (const [table, { rows, exact }] of Object.entries(summary.tables))
    console.log(
      `  ${table.padEnd(8)} ${String(rows).padStart(5)} rows  ${exact ? '✔ exact' : '✘ differs'}`,
    )
  return summary.check
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(command, main)
