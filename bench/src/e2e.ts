/**
 * The main job end to end at a larger scale than `pnpm start`: `runWidgets` of
 * @phonon/examples (generator → Redis Streams → worker processes with `withLocalAggregation` →
 * RedisShard → the last holders upsert into SQL) with 1 and then 2 worker processes, on a private
 * redis-server and PGlite, its table checked against the generator's ground truth each time.
 * Events/s is of the whole run (`wallMs`: producing the stream, starting the workers, consuming,
 * the last executions).
 *
 * Baseline in the same run: the naive per-event SQL upsert — the first `--naive` events of the same
 * stream, each one `INSERT … ON CONFLICT (id) DO UPDATE SET clicks = clicks + excluded.clicks…`
 * on PGlite, one at a time — and one SQL statement per event. Writes bench/results/e2e.json.
 *
 * Run: pnpm --filter @phonon/bench bench:e2e [-- --events N --widgets N --skew S --workers 1,2
 *   --capacity N (LRU entries per worker) --naive N (events of the baseline)]
 */
import { createSink, defineSqlModel } from '@phonon/adapters-django-style'
import { id, sum } from '@phonon/core'
import type { WidgetsSummary } from '@phonon/examples/widgets'
import { runWidgets, widgetEvents } from '@phonon/examples/widgets'
import { startRedis } from '@phonon/testkit'
import { redisVersion } from './redis.js'
import { formatRate, printTable, readFlags, writeResult } from './report.js'

const flags = readFlags({
  events: '500000',
  widgets: '50000',
  skew: '1.1',
  workers: '1,2',
  capacity: '5000',
  naive: '5000',
  seed: '42',
})
const events = flags.integer('events')
const widgets = flags.integer('widgets')
const skew = flags.number('skew')
const workerCounts = flags.list('workers', true)
const capacity = flags.integer('capacity')
const naiveEvents = Math.min(events, flags.integer('naive'))
const seed = flags.integer('seed')

// The table lives in PGlite, as the baseline's does (runWidgets would use DATABASE_URL).
delete process.env.DATABASE_URL

const NaiveWidget = defineSqlModel(
  'NaiveWidget',
  { id: id(), clicks: sum(), impressions: sum() },
  { table: 'naive_widgets' },
)

/**
 * The baseline: one upsert per event on a fresh PGlite, then the table checked.
 *
 * @returns events per second.
 * @throws Error when the table's totals are not the events'.
 */
async function perEventUpsert(): Promise<number> {
  const sink = await createSink({ dialect: 'pglite' })
  try {
    await sink.migrate([NaiveWidget.sqlModel])
    const stream = [...widgetEvents({ events: naiveEvents, widgets, skew, seed })]
    const started = performance.now()
    for (const event of stream) {
      const click = event.event_type === 'click' ? 1 : 0
      await sink.db
        .insertInto('naive_widgets')
        .values({
          id: `${event.parent_post_id}-${event.target_post_id}`,
          clicks: click,
          impressions: 1 - click,
        })
        .onConflict((conflict) =>
          conflict.column('id').doUpdateSet((eb) => ({
            clicks: eb('naive_widgets.clicks', '+', eb.ref('excluded.clicks')),
            impressions: eb('naive_widgets.impressions', '+', eb.ref('excluded.impressions')),
          })),
        )
        .execute()
    }
    const perSec = naiveEvents / ((performance.now() - started) / 1000)
    const rows = await NaiveWidget.objects.using(sink).all()
    const total = rows.reduce((n, row) => n + Number(row.clicks) + Number(row.impressions), 0)
    if (total !== naiveEvents) {
      throw new Error(`per-event upsert: the table counts ${total} events, ${naiveEvents} expected`)
    }
    return perSec
  } finally {
    await sink.close()
  }
}

const server = await startRedis()
try {
  const redis = await redisVersion(server)
  const steps = workerCounts.length + 1
  console.log(
    `e2e: the main job with ${workerCounts.join(' and ')} worker(s), ${events.toLocaleString('en-US')} Zipf(${skew}) events over ${widgets.toLocaleString('en-US')} widgets, LRU ${capacity.toLocaleString('en-US')} per worker, private redis ${redis}, PGlite`,
  )
  const naive = await perEventUpsert()
  console.log(
    `  [1/${steps}] naive per-event SQL upsert on PGlite: ${formatRate(naive)} events/s (${naiveEvents.toLocaleString('en-US')} events)`,
  )
  const runs: Array<WidgetsSummary & { ratioToPerEventUpsert: number }> = []
  for (const [i, workers] of workerCounts.entries()) {
    await server.cli('flushall')
    const summary = await runWidgets({
      events,
      widgets,
      skew,
      seed,
      workers,
      capacity,
      redisUrl: server.url,
      progress: false,
    })
    runs.push({ ...summary, ratioToPerEventUpsert: summary.eventsPerSec / naive })
    console.log(
      `  [${i + 2}/${steps}] ${workers} worker(s): ${formatRate(summary.eventsPerSec)} events/s, ` +
        `${summary.eventsPerSqlStatement.toFixed(1)} events per SQL statement, ${(summary.wallMs / 1000).toFixed(1)} s, ` +
        `check ${summary.check ? '✔ exact' : '✘ FAILED'}`,
    )
  }
  const one = runs[0]?.eventsPerSec ?? 0
  printTable(
    [
      'run',
      'events/s',
      '÷ per-event upsert',
      '÷ 1st run',
      'events/SQL stmt',
      'Redis RT/event',
      'check',
    ],
    [
      ['naive per-event SQL upsert', formatRate(naive), '1.00', '', '1.0', '', ''],
      ...runs.map((run) => [
        `${run.workers} worker(s)`,
        formatRate(run.eventsPerSec),
        run.ratioToPerEventUpsert.toFixed(2),
        (run.eventsPerSec / one).toFixed(2),
        run.eventsPerSqlStatement.toFixed(1),
        (run.redisRoundTrips / run.events).toFixed(4),
        run.check ? '✔' : '✘',
      ]),
    ],
  )
  const file = writeResult('e2e', {
    workload: {
      events,
      widgets,
      skew,
      seed,
      capacity,
      naiveEvents,
      redis,
      sql: runs[0]?.sql ?? 'PGlite',
      eventsPerSec:
        'events ÷ wallMs of the whole run (stream produced, workers started, all consumed and executed)',
    },
    baselines: {
      perEventUpsertEventsPerSec: Math.round(naive),
      perEventUpsertSqlStatementsPerEvent: 1,
    },
    runs: runs.map((run) => ({
      workers: run.workers,
      eventsPerSec: run.eventsPerSec,
      wallMs: run.wallMs,
      eventsPerSqlStatement: run.eventsPerSqlStatement,
      sqlStatements: run.sqlStatements,
      redisRoundTrips: run.redisRoundTrips,
      redisRoundTripsPerEvent: run.redisRoundTrips / run.events,
      ratioToPerEventUpsert: run.ratioToPerEventUpsert,
      ratioToFirstRun: run.eventsPerSec / one,
      check: run.check,
      differences: run.differences,
    })),
  })
  console.log(`wrote ${file}`)
  if (runs.some((run) => !run.check)) {
    console.error(
      'e2e: a run’s table differs from the ground truth (see differences in the result)',
    )
    process.exitCode = 1
  }
} finally {
  await server.stop()
}
