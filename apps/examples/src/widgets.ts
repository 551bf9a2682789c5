/**
 * The main job, end to end: a generator writes a Zipf-distributed stream of the seed's widget
 * events (`{ parent_post_id, target_post_id, event_type }`) to Redis Streams; several worker
 * processes consume it through a consumer group with `withLocalAggregation`, merge in their LRUs,
 * share through Redis, and the last holder of each widget upserts its clicks and impressions into
 * SQL. The table is then checked against the generator's ground truth.
 *
 * Embedded defaults: without REDIS_URL a private `redis-server` is started on a free port (or, if
 * none is installed, the workers run in process on a MemoryShard); without DATABASE_URL the table
 * lives in PGlite, in this process (workers send it their executions).
 *
 * Run: pnpm start [-- --events N --widgets N --skew S --workers N --capacity N --json --memory];
 *      pnpm start -- --help
 */
import { execFileSync, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createAggregator, withLocalAggregation } from '@phonon/lru-update'
import { MemoryShard, MemoryStore } from '@phonon/redis-shard'
import { startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { type Command, checkRedis, type Flag, type FlagValues, flag, runCli } from './cli.js'
import { count, type StreamOptions, type Totals, widgetEvents } from './widgets/events.js'
import { codec, Widget, type WidgetEvent, widgetUpdate } from './widgets/model.js'
import { ProgressBars } from './widgets/progress.js'
import { progressOf, type ToParent, type ToWorker, type WorkerConfig } from './widgets/protocol.js'
import { type CountingSink, openSink } from './widgets/sink.js'

export { widgetEvents } from './widgets/events.js'

/** Options of {@link runWidgets}. */
export interface WidgetsOptions extends StreamOptions {
  /** Worker processes (or in-process workers on a MemoryShard). */
  readonly workers: number
  /** LRU entries per worker. */
  readonly capacity: number
  /** Redis to use; default `REDIS_URL`, else a private redis-server, else a MemoryShard. */
  readonly redisUrl?: string | undefined
  /** PostgreSQL to write to; default `DATABASE_URL`, else PGlite in this process. */
  readonly databaseUrl?: string | undefined
  /** Run the workers in process on a MemoryShard, even if Redis is available. */
  readonly memory?: boolean
  /** Draw progress bars (default: when stdout is a terminal). */
  readonly progress?: boolean
}

/** What a run did, and whether the table matches the ground truth exactly. */
export interface WidgetsSummary {
  readonly events: number
  readonly workers: number
  /** What the shared tier was: a URL, a private redis-server, or MemoryShard. */
  readonly redis: string
  /** What the table lived in. */
  readonly sql: string
  /** Round trips the workers' shards made to Redis (script calls, pipelined per node). */
  readonly redisRoundTrips: number
  /** SQL statements that wrote executions. */
  readonly sqlStatements: number
  readonly eventsPerSqlStatement: number
  readonly wallMs: number
  readonly eventsPerSec: number
  /** True only when every row equals the ground truth and no row is missing or extra. */
  readonly check: boolean
  /** Up to 10 rows that differ. */
  readonly differences: ReadonlyArray<{
    widget: string
    expected: Row | undefined
    actual: Row | undefined
  }>
}

type Row = { clicks: number; impressions: number }

/** Entries dirty this long are folded into Redis and their messages acked (ms). */
const FLUSH_INTERVAL_MS = 250
const WORKER = new URL('./widgets/worker.ts', import.meta.url)

/**
 * Runs the job and checks the table.
 * @throws Error when a worker fails, or DATABASE_URL is not a PostgreSQL URL.
 */
export async function runWidgets(options: WidgetsOptions): Promise<WidgetsSummary> {
  const started = performance.now()
  const runId = randomUUID().slice(0, 8)
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL
  const schema = databaseUrl === undefined ? undefined : `phonon_widgets_${runId}`
  const sql = await openSink(databaseUrl, schema)
  const redis = options.memory ? undefined : await resolveRedis(options.redisUrl)
  try {
    const truth: Totals = new Map()
    const before = sql.statements()
    const run =
      redis === undefined
        ? await runInProcess(options, sql, truth)
        : await runOnRedis(options, { ...redis, runId, databaseUrl, schema }, sql, truth)
    const sqlStatements = sql.statements() - before + run.workerStatements
    const differences = await compare(truth)
    const wallMs = Math.round(performance.now() - started)
    return {
      events: options.events,
      workers: options.workers,
      redis: redis?.label ?? 'MemoryShard (in process: no redis-server installed, or --memory)',
      sql: databaseUrl === undefined ? 'PGlite (in process)' : `PostgreSQL, schema ${schema}`,
      redisRoundTrips: run.redisRoundTrips,
      sqlStatements,
      eventsPerSqlStatement: options.events / Math.max(1, sqlStatements),
      wallMs,
      eventsPerSec: Math.round(options.events / (wallMs / 1000)),
      check: differences.length === 0,
      differences: differences.slice(0, 10),
    }
  } finally {
    if (schema !== undefined)
      await sql.sink.db.schema.dropSchema(schema).ifExists().cascade().execute()
    await sql.close()
    await redis?.stop()
  }
}

/** What a run reports besides the table. */
interface RunResult {
  readonly redisRoundTrips: number
  /** Statements the workers sent themselves (directly to PostgreSQL). */
  readonly workerStatements: number
}

/** REDIS_URL, or a private redis-server when one is installed, or none (MemoryShard). */
async function resolveRedis(url = process.env.REDIS_URL) {
  if (url !== undefined) {
    return { url, label: url.replace(/\/\/[^@]*@/, '//'), stop: async () => {} }
  }
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const server = await startRedis()
  return {
    url: server.url,
    label: `private redis-server on port ${server.port}`,
    stop: () => server.stop(),
  }
}

/**
 * The real thing: events XADDed to a stream, consumed by worker processes through a consumer
 * group; returns once every event was read and acknowledged and every worker closed.
 */
async function runOnRedis(
  options: WidgetsOptions,
  redis: {
    url: string
    runId: string
    databaseUrl: string | undefined
    schema: string | undefined
  },
  sql: CountingSink,
  truth: Totals,
): Promise<RunResult> {
  const stream = `widgets:${redis.runId}:events`
  const group = 'workers'
  const client = new Redis(redis.url)
  await client.xgroup('CREATE', stream, group, '0', 'MKSTREAM')
  const names = Array.from({ length: options.workers }, (_, i) => `worker-${i + 1}`)
  const bars = new ProgressBars(names, options.events, options.progress)
  const done: Array<Extract<ToParent, { type: 'done' }>> = []
  const children = names.map((name) => {
    const config: WorkerConfig = {
      name,
      redisUrl: redis.url,
      namespace: `widgets-${redis.runId}`,
      stream,
      group,
      capacity: options.capacity,
      flushIntervalMs: FLUSH_INTERVAL_MS,
      ...(redis.databaseUrl === undefined ? {} : { databaseUrl: redis.databaseUrl }),
      ...(redis.schema === undefined ? {} : { schema: redis.schema }),
    }
    const child = fork(WORKER, [JSON.stringify(config)], {
      execArgv: ['--import', 'tsx', '--conditions=@phonon/source'],
    })
    child.on('message', (message: ToParent) => {
      if (message.type === 'progress') bars.update(message.name, message)
      else if (message.type === 'done') done.push(message)
      else executeForWorker(sql, message).then((reply) => child.send(reply))
    })
    const exited = new Promise<void>((resolve, reject) =>
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`${name} exited with ${code ?? signal}`)),
      ),
    )
    return { child, exited }
  })
  try {
    await produce(client, stream, options, truth)
    const allExited = Promise.all(children.map((c) => c.exited))
    await Promise.race([allExited, waitUntilConsumed(client, stream, group, options.events)])
    for (const { child } of children)
      if (child.connected) child.send({ type: 'stop' } satisfies ToWorker)
    await allExited
  } finally {
    bars.stop()
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL')
    await client.del(stream)
    client.disconnect()
  }
  return {
    redisRoundTrips: done.reduce((n, d) => n + d.redisRoundTrips, 0),
    workerStatements: done.reduce((n, d) => n + d.sqlStatements, 0),
  }
}

/** XADDs the events, pipelined, and counts the ground truth. */
async function produce(client: Redis, stream: string, options: StreamOptions, truth: Totals) {
  let pipeline = client.pipeline()
  let queued = 0
  for (const event of widgetEvents(options)) {
    count(truth, event)
    pipeline.xadd(stream, '*', 'e', JSON.stringify(event))
    if (++queued % 5_000 === 0) {
      await pipeline.exec()
      pipeline = client.pipeline()
    }
  }
  await pipeline.exec()
}

/** Resolves once every event of the stream was read by the group and acknowledged. */
async function waitUntilConsumed(client: Redis, stream: string, group: string, events: number) {
  for (;;) {
    const groups = (await client.xinfo('GROUPS', stream)) as unknown[][]
    const info = groups
      .map((fields) => new Map(fields.flatMap((v, i) => (i % 2 === 0 ? [[v, fields[i + 1]]] : []))))
      .find((fields) => fields.get('name') === group)
    if (Number(info?.get('entries-read')) === events && Number(info?.get('pending')) === 0) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** Writes a worker's executions into the embedded database; the reply it waits for. */
async function executeForWorker(
  sql: CountingSink,
  message: Extract<ToParent, { type: 'execute' }>,
): Promise<ToWorker> {
  try {
    await sql.executeBatch(
      message.executions.map(({ resourceId, epoch, aggregate }) => ({
        resourceId,
        epoch,
        update: Widget.create(aggregate),
      })),
    )
    return { type: 'executed', id: message.id }
  } catch (error) {
    return { type: 'executed', id: message.id, error: String(error) }
  }
}

/** Without Redis: the same workers in this process, on MemoryShards sharing one store. */
async function runInProcess(
  options: WidgetsOptions,
  sql: CountingSink,
  truth: Totals,
): Promise<RunResult> {
  const store = new MemoryStore()
  const names = Array.from({ length: options.workers }, (_, i) => `worker-${i + 1}`)
  const bars = new ProgressBars(names, options.events, options.progress)
  const workers = names.map((name) => {
    const aggregator = createAggregator({
      shard: new MemoryShard({ codec: codec(), store, workerId: name }),
      max: options.capacity,
      flushIntervalMs: FLUSH_INTERVAL_MS,
      executeBatch: (claims) => sql.executeBatch(claims),
    })
    const handle = withLocalAggregation(
      aggregator,
      (m: { event: WidgetEvent; ack(): void; nack(): void }) => widgetUpdate(m.event),
    )
    return { name, aggregator, handle }
  })
  let i = 0
  for (const event of widgetEvents(options)) {
    count(truth, event)
    const worker = workers[i++ % workers.length] as (typeof workers)[number]
    await worker.handle({ event, ack: () => {}, nack: () => {} })
    if (i % 10_000 === 0) {
      for (const w of workers) bars.update(w.name, progressOf(w.aggregator))
      await new Promise((resolve) => setImmediate(resolve)) // let the flushers and bars run
    }
  }
  await Promise.all(workers.map((w) => w.aggregator.close()))
  for (const w of workers) bars.update(w.name, progressOf(w.aggregator))
  bars.stop()
  return {
    redisRoundTrips: workers.reduce((n, w) => n + w.aggregator.stats().shard.roundTrips, 0),
    workerStatements: 0,
  }
}

/** The rows that differ from the ground truth (missing, extra, or with other totals). */
async function compare(truth: Totals) {
  const rows = new Map(
    (await Widget.objects.all()).map((row) => [
      String(row.id),
      { clicks: Number(row.clicks), impressions: Number(row.impressions) },
    ]),
  )
  const keys = new Set([...truth.keys(), ...rows.keys()])
  return [...keys]
    .map((widget) => ({ widget, expected: truth.get(widget), actual: rows.get(widget) }))
    .filter(
      ({ expected, actual }) =>
        expected?.clicks !== actual?.clicks || expected?.impressions !== actual?.impressions,
    )
}

function printSummary(summary: WidgetsSummary): void {
  const rows: Array<[string, string]> = [
    ['events in', summary.events.toLocaleString('en-US')],
    ['workers', `${summary.workers}`],
    ['shared tier', summary.redis],
    ['table in', summary.sql],
    // Only with Redis: a MemoryShard makes no round trips worth counting.
    ...(summary.redis.startsWith('MemoryShard')
      ? []
      : [
          ['Redis round trips', summary.redisRoundTrips.toLocaleString('en-US')] as [
            string,
            string,
          ],
        ]),
    ['SQL statements', summary.sqlStatements.toLocaleString('en-US')],
    ['events per SQL statement', summary.eventsPerSqlStatement.toFixed(1)],
    [
      'wall time',
      `${(summary.wallMs / 1000).toFixed(1)} s (${summary.eventsPerSec.toLocaleString('en-US')} events/s)`,
    ],
    ['table vs ground truth', summary.check ? '✔ exact' : '✘ differs'],
  ]
  const width = Math.max(...rows.map(([label]) => label.length))
  for (const [label, value] of rows) console.log(`${label.padEnd(width)}  ${value}`)
  for (const d of summary.differences)
    console.log(`  ✘ ${d.widget}: expected`, d.expected, 'got', d.actual)
}

/** The command line of the main job: `pnpm start -- --help`. */
export const command = {
  name: 'pnpm start',
  summary:
    'The main job: Zipf widget events through Redis Streams to worker processes aggregating\nlocally, sharing through Redis, upserting into SQL; then the table is checked.',
  flags: {
    events: flag.events(100_000, 'events generated'),
    widgets: flag.count(20_000, 'distinct widgets (Zipf ranks)'),
    skew: { type: 'number', default: 1.1, min: 0.01, max: 10, help: 'Zipf exponent' },
    workers: flag.count(4, 'worker processes', 64),
    capacity: flag.count(2_000, 'LRU entries per worker'),
    seed: flag.seed,
    memory: { type: 'boolean', help: 'workers in process on a MemoryShard, even with Redis' },
    json: { type: 'boolean', help: 'print the summary as one JSON object' },
  },
  env: {
    REDIS_URL: 'the Redis to use (default: a private redis-server, else a MemoryShard)',
    DATABASE_URL: 'a postgres:// URL to write to (default: PGlite, in process)',
  },
} satisfies Command<Record<string, Flag>>

async function main(flags: FlagValues<typeof command.flags>): Promise<boolean> {
  const redisUrl = process.env.REDIS_URL
  if (redisUrl !== undefined && !flags.memory) await checkRedis(redisUrl)
  const summary = await runWidgets({
    events: flags.events,
    widgets: flags.widgets,
    skew: flags.skew,
    workers: flags.workers,
    capacity: flags.capacity,
    seed: flags.seed,
    memory: flags.memory,
    progress: !flags.json && process.stdout.isTTY === true,
  })
  if (flags.json) console.log(JSON.stringify(summary))
  else printSummary(summary)
  return summary.check
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(command, main)
