/**
 * The main job, end to end: a generator puts a Zipf-distributed stream of the seed's widget
 * events (`{ parent_post_id, target_post_id, event_type }`) into a `@phonon/streams` stream of N
 * shards on Redis Streams; worker processes lease the shards (`Worker`) and feed them through the
 * exactly-once phonon source (`phononSource`: LRU merging, sessions shared through Redis by
 * `@phonon/redis-shard`); the last holder of each widget upserts its clicks and impressions into
 * SQL. The table is then checked against the generator's ground truth.
 *
 * Embedded defaults: without REDIS_URL a private `redis-server` is started on a free port (or, if
 * none is installed, the workers run in this process on a memory backend and MemoryShards);
 * without DATABASE_URL the table lives in PGlite in this process, served to the workers over the
 * PostgreSQL wire protocol on a free local port.
 *
 * Run: pnpm start [-- --events N --widgets N --skew S --workers N --shards N --capacity N --json
 *      --memory]; pnpm start -- --help
 */

import { type Command, checkRedis, type Flag, type FlagValues, flag, runCli } from './cli.js'
import { TUNING } from './widgets/protocol.js'
import type { WidgetsOptions, WidgetsSummary } from './widgets/run.js'

export { widgetEvents } from './widgets/events.js'
export type {
  ProcessCpu,
  StartupMarks,
  WidgetsOptions,
  WidgetsSummary,
} from './widgets/run.js'

/**
 * Runs the job and checks the table (the job's modules load on the first call).
 * @throws ArgumentError for a DATABASE_URL that is not a PostgreSQL URL.
 * @throws SinkError when the database cannot be reached; Error when a worker fails.
 */
export async function runWidgets(options: WidgetsOptions): Promise<WidgetsSummary> {
  const { runWidgets: run } = await import('./widgets/run.js')
  return run(options)
}

const n = (x: number) => x.toLocaleString('en-US')
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`

function printSummary(summary: WidgetsSummary): void {
  const rows: Array<[string, string]> = [
    ['events in', n(summary.events)],
    ['workers', `${summary.workers} (${summary.shards} shards, leased)`],
    ['stream and shared tier', summary.redis],
    ['table in', summary.sql],
    [
      'start-up',
      `${(summary.startupMs / 1000).toFixed(1)} s (done at: Redis ${seconds(summary.startup.redisMs)}, database ${seconds(summary.startup.databaseMs)}, workers ${seconds(summary.startup.workersMs)}, leases ${seconds(summary.startup.leasesMs)})`,
    ],
    [
      'steady',
      `${(summary.steadyMs / 1000).toFixed(1)} s: ${n(summary.steadyEventsPerSec)} events/s (generated, streamed, aggregated, committed)`,
    ],
    ['finish', `${(summary.finishMs / 1000).toFixed(1)} s (sessions released, last rows executed)`],
    ['wall time', `${(summary.wallMs / 1000).toFixed(1)} s (${n(summary.eventsPerSec)} events/s)`],
    ...(summary.redisCommandsPerEvent === undefined
      ? []
      : ([['Redis commands per event', summary.redisCommandsPerEvent.toFixed(3)]] as Array<
          [string, string]
        >)),
    ...summary.cpu.map(
      (c) =>
        [
          `CPU ${c.process}`,
          `${(c.cpuMs / 1000).toFixed(2)} s (${c.cpuMicrosPerEvent.toFixed(2)} µs/event)`,
        ] as [string, string],
    ),
    ['rows executed', n(summary.executions)],
    ['SQL statements', n(summary.sqlStatements)],
    ['events per SQL statement', summary.eventsPerSqlStatement.toFixed(1)],
    ['left in Redis', summary.redisLeft],
    [
      'table vs ground truth',
      summary.interrupted ? '– interrupted' : summary.check ? '✔ exact' : '✘ differs',
    ],
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
    'The main job: Zipf widget events through a @phonon/streams stream on Redis to worker\nprocesses leasing its shards, aggregating exactly once, upserting into SQL; then the table\nis checked against the ground truth.',
  flags: {
    events: flag.events(1_000_000, 'events generated'),
    widgets: flag.count(20_000, 'distinct widgets (Zipf ranks)'),
    skew: { type: 'number', default: 1.1, min: 0.01, max: 10, help: 'Zipf exponent' },
    workers: flag.count(2, 'worker processes', 64),
    shards: flag.count(16, 'shards of the stream', 1024),
    capacity: flag.count(TUNING.capacity, 'LRU entries per worker'),
    seed: flag.seed,
    memory: { type: 'boolean', help: 'workers in process on a memory backend, even with Redis' },
    json: { type: 'boolean', help: 'print the summary as one JSON object' },
  },
  env: {
    REDIS_URL: 'the Redis to use (default: a private redis-server, else in memory)',
    DATABASE_URL: 'a postgres:// URL to write to (default: PGlite, in process)',
  },
} satisfies Command<Record<string, Flag>>

async function main(flags: FlagValues<typeof command.flags>): Promise<boolean> {
  const redisUrl = process.env.REDIS_URL
  if (redisUrl !== undefined && !flags.memory) await checkRedis(redisUrl)
  // SIGTERM / SIGINT: the workers finish their round and exit; then this process does.
  let signalled: NodeJS.Signals | undefined
  const interrupted = new Promise<void>((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      signalled ??= signal
      resolve()
    }
    // Kept (not once): a second signal while the workers finish changes nothing.
    process.on('SIGTERM', on)
    process.on('SIGINT', on)
  })
  const summary = await runWidgets({
    events: flags.events,
    widgets: flags.widgets,
    skew: flags.skew,
    workers: flags.workers,
    shards: flags.shards,
    capacity: flags.capacity,
    seed: flags.seed,
    memory: flags.memory,
    progress: !flags.json && process.stdout.isTTY === true,
    interrupted,
  })
  if (summary.interrupted) {
    process.stderr.write(
      `pnpm start: interrupted by ${signalled}: workers stopped, Redis left ${summary.redisLeft}\n`,
    )
    // Everything is stopped and cleaned by now: exit with the signal's conventional status.
    process.exit(128 + (signalled === 'SIGINT' ? 2 : 15))
  }
  if (flags.json) console.log(JSON.stringify(summary))
  else printSummary(summary)
  return summary.check
}

if (import.meta.url === `file://${process.argv[1]}`) await runCli(command, main)
