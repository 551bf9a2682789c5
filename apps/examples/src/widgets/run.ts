/**
 * The main job's run (see `../widgets.ts` for what it does and its command line): start-up,
 * the steady phase, the finish and the check, on Redis with worker processes or in process on a
 * memory backend. Loaded by the command line only once its flags are checked.
 */
import { execFileSync, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { type Claim, MemoryShard, MemoryStore } from '@phonon/redis-shard'
import {
  type Backend,
  compareSequences,
  MemoryBackend,
  RedisBackend,
  type Stream,
} from '@phonon/streams'
import { startRedis } from '@phonon/testkit'
import { Redis } from 'ioredis'
import { JobFailed, progressLines, redact } from '../cli.js'
import { type Database, openDatabase } from './database.js'
import { count, type StreamOptions, type Totals, widgetEvents } from './events.js'
import { codec, Widget, widgetId } from './model.js'
import { ProgressBars } from './progress.js'
import {
  cpuMs,
  progressOf,
  type Sample,
  type ToParent,
  type ToWorker,
  TUNING,
  type WorkerConfig,
  type WorkerProgress,
  type WorkerTuning,
} from './protocol.js'
import { APPLICATION, type WidgetRecord, widgetStream, widgetWorker } from './stream.js'

/** Options of {@link runWidgets}. */
export interface WidgetsOptions extends StreamOptions {
  /** Worker processes (or in-process workers on a memory backend). */
  readonly workers: number
  /** Shards of the stream. Default 16. */
  readonly shards?: number
  /** LRU entries per worker. */
  readonly capacity: number
  /** Rounds, leases (defaults: {@link TUNING}). */
  readonly tuning?: Partial<Omit<WorkerTuning, 'capacity'>>
  /** Redis to use; default `REDIS_URL`, else a private redis-server, else a memory backend. */
  readonly redisUrl?: string | undefined
  /** PostgreSQL to write to; default `DATABASE_URL`, else PGlite in this process. */
  readonly databaseUrl?: string | undefined
  /** Run the workers in process on a memory backend and MemoryShards, even if Redis is there. */
  readonly memory?: boolean
  /** Draw progress bars (default: when stdout is a terminal). */
  readonly progress?: boolean
  /** Print a progress line every 2 s on stderr (default: when stdout is not a terminal). */
  readonly progressLines?: boolean
  /** Resolves when the run should stop early (SIGTERM); the run then stops its workers. */
  readonly interrupted?: Promise<void>
}

/** CPU time of one process over the steady phase. */
export interface ProcessCpu {
  /** `parent (generator, PGlite)`, `worker-1`, …, `redis-server`. */
  readonly process: string
  /** CPU time (user + system) during the steady phase (ms). */
  readonly cpuMs: number
  /** The same per event (µs). */
  readonly cpuMicrosPerEvent: number
}

/** What a run did, and whether the table matches the ground truth exactly. */
export interface WidgetsSummary {
  readonly events: number
  readonly workers: number
  readonly shards: number
  /** What the shared tier and the stream were on: a URL, a private redis-server, or memory. */
  readonly redis: string
  /** What the table lived in. */
  readonly sql: string
  /** Start-up: Redis, database and workers started, every shard leased (ms). */
  readonly startupMs: number
  /** When each part of the start-up was done, since the run began (ms). */
  readonly startup: StartupMarks
  /** Steady phase: the first event put → every shard's checkpoint at its last event (ms). */
  readonly steadyMs: number
  /** Events ÷ the steady phase: generated, streamed, aggregated, committed concurrently. */
  readonly steadyEventsPerSec: number
  /** Finish: workers stopped, their sessions released and the last rows executed (ms). */
  readonly finishMs: number
  /** The whole run (start-up, steady, finish; not the check) (ms). */
  readonly wallMs: number
  /** Events ÷ the whole run. */
  readonly eventsPerSec: number
  /** Redis commands processed during the steady phase per event (every client; undefined in memory). */
  readonly redisCommandsPerEvent: number | undefined
  /** Round trips the workers' shards made to Redis (script calls, pipelined per node). */
  readonly redisRoundTrips: number
  /** CPU time per process during the steady phase. */
  readonly cpu: readonly ProcessCpu[]
  /** SQL statements that wrote executions. */
  readonly sqlStatements: number
  readonly eventsPerSqlStatement: number
  /** Rows executed (sessions ended by their last holder). */
  readonly executions: number
  /** What the run left in Redis: `none` (a private server, stopped; or cleaned) or a count. */
  readonly redisLeft: string
  /** True only when every row equals the ground truth and no row is missing or extra. */
  readonly check: boolean
  /** Up to 10 rows that differ. */
  readonly differences: ReadonlyArray<{
    widget: string
    expected: Row | undefined
    actual: Row | undefined
  }>
  /** True when the run was interrupted (SIGTERM/SIGINT) before it finished. */
  readonly interrupted: boolean
}

type Row = { clicks: number; impressions: number }

/** Events put per `putMany` call (and generated ahead). */
const PRODUCE_BATCH = 10_000
/** The producer waits while this many events are put but not yet handled by a worker. */
const MAX_AHEAD = 400_000
/** The steady phase fails when no checkpoint moved for this long (ms). */
const STALL_MS = 120_000
/** Start-up gives up after this long (ms). */
const STARTUP_DEADLINE_MS = 60_000
const compiled = import.meta.url.endsWith('.js')
const WORKER = new URL(compiled ? './worker.js' : './worker.ts', import.meta.url)

/** Start-up, part by part: each the time since the run began at which it was done (ms). */
export interface StartupMarks {
  /** The private redis-server answered (or REDIS_URL was taken as is). */
  redisMs: number
  /** The database is open, its table created (and PGlite served). */
  databaseMs: number
  /** Every worker process reported (its modules loaded, connected, running). */
  workersMs: number
  /** Every shard leased, evenly: the steady phase starts. */
  leasesMs: number
}

/** A run's phases, measured by the parent. */
interface Phases {
  startupMs: number
  steadyMs: number
  finishMs: number
  cpu: ProcessCpu[]
  redisCommands: number | undefined
  redisRoundTrips: number
  executions: number
  workerStatements: number
  interrupted: boolean
}

/**
 * Runs the job and checks the table.
 * @throws ArgumentError for a DATABASE_URL that is not a PostgreSQL URL.
 * @throws SinkError when the database cannot be reached; Error when a worker fails.
 */
export async function runWidgets(options: WidgetsOptions): Promise<WidgetsSummary> {
  const started = performance.now()
  const runId = randomUUID().slice(0, 8)
  const shards = options.shards ?? 16
  const tuning: WorkerTuning = { ...TUNING, ...options.tuning, capacity: options.capacity }
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL
  const since = () => Math.round(performance.now() - started)
  const marks: StartupMarks = { redisMs: 0, databaseMs: 0, workersMs: 0, leasesMs: 0 }
  const redis = options.memory
    ? undefined
    : await resolveRedis(
        options.redisUrl ?? process.env.REDIS_URL,
        options.interrupted !== undefined,
      )
  marks.redisMs = since()
  // PGlite starts while the workers do (they are sent its URL once it is served); PostgreSQL is
  // opened first, so that an unreachable one fails the run before any worker starts.
  const opening = openDatabase(databaseUrl, runId, options.workers).then((db) => {
    marks.databaseMs = since()
    return db
  })
  let database: Database | undefined
  try {
    if (databaseUrl !== undefined || redis === undefined) database = await opening
    const truth: Totals = new Map()
    const run =
      redis === undefined
        ? await runInProcess(options, shards, tuning, await opening, truth, started, marks)
        : await runOnRedis(options, shards, tuning, redis, runId, opening, truth, started, marks)
    database = await opening
    const wallMs = Math.round(performance.now() - started)
    const differences = run.interrupted ? [] : await compare(truth)
    const left = redis === undefined ? 'none (memory)' : await redis.clean(runId)
    const sqlStatements = database.sink.statements() + run.workerStatements
    const steadyEventsPerSec = Math.round(options.events / (Math.max(1, run.steadyMs) / 1000))
    return {
      events: options.events,
      workers: options.workers,
      shards,
      redis:
        redis?.label ??
        'memory backend and MemoryShards (in process: no redis-server, or --memory)',
      sql: database.label,
      startupMs: Math.round(run.startupMs),
      startup: marks,
      steadyMs: Math.round(run.steadyMs),
      steadyEventsPerSec,
      finishMs: Math.round(run.finishMs),
      wallMs,
      eventsPerSec: Math.round(options.events / (wallMs / 1000)),
      redisCommandsPerEvent:
        run.redisCommands === undefined ? undefined : run.redisCommands / options.events,
      redisRoundTrips: run.redisRoundTrips,
      cpu: run.cpu,
      sqlStatements,
      eventsPerSqlStatement: options.events / Math.max(1, sqlStatements),
      executions: run.executions,
      redisLeft: left,
      check: !run.interrupted && differences.length === 0,
      differences: differences.slice(0, 10),
      interrupted: run.interrupted,
    }
  } finally {
    await (database ?? (await opening.catch(() => undefined)))?.close()
    await redis?.stop()
  }
}

/** The shared tier: a URL (checked), or a private redis-server. */
interface RedisTier {
  readonly url: string
  readonly label: string
  /** Deletes the run's keys from a user's Redis; what was left, said for the summary. */
  clean(runId: string): Promise<string>
  stop(): Promise<void>
}

/**
 * REDIS_URL, or a private redis-server when one is installed, or none (memory). With
 * `ownSignals` the caller handles SIGTERM/SIGINT (and the server is stopped by the run).
 */
async function resolveRedis(
  url: string | undefined,
  ownSignals: boolean,
): Promise<RedisTier | undefined> {
  if (url !== undefined) {
    return {
      url,
      label: redact(url),
      clean: (runId) => deleteRunKeys(url, runId),
      stop: async () => {},
    }
  }
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
  } catch {
    return undefined
  }
  const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const
  const before = new Map(signals.map((signal) => [signal, process.listeners(signal)]))
  const server = await startRedis()
  if (ownSignals) {
    // The caller stops the run on a signal, and the run stops this server after its workers
    // (testkit's own listeners would kill it at once, under the workers' last commit).
    for (const signal of signals)
      for (const listener of process.listeners(signal))
        if (!before.get(signal)?.includes(listener)) process.off(signal, listener)
  }
  return {
    url: server.url,
    label: `private redis-server on port ${server.port}`,
    clean: async () => 'none (private redis-server, stopped)',
    stop: () => server.stop(),
  }
}

/**
 * Deletes every key of a run from a user's Redis: the stream's shards and coordination
 * (`{triton:widgets-<run>:…}`) and phonon's sessions (`…widgets-<run>…`).
 */
async function deleteRunKeys(url: string, runId: string): Promise<string> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 })
  try {
    let deleted = 0
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `*widgets-${runId}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) deleted += await client.unlink(...keys)
    } while (cursor !== '0')
    return `none (the run's ${deleted.toLocaleString('en-US')} keys deleted)`
  } catch (error) {
    return `keys matching *widgets-${runId}* (cleaning failed: ${(error as Error).message})`
  } finally {
    client.disconnect()
  }
}

/** A worker process as the parent sees it. */
interface Child {
  readonly name: string
  send(message: ToWorker): void
  readonly exited: Promise<void>
  kill(): void
  progress: WorkerProgress
  /** It sent its first progress message. */
  reported?: boolean
  done?: Extract<ToParent, { type: 'done' }>
}

/**
 * The real thing: events put into a Redis stream, consumed by worker processes that lease its
 * shards; returns once every event was checkpointed and every worker closed.
 */
async function runOnRedis(
  options: WidgetsOptions,
  shards: number,
  tuning: WorkerTuning,
  redis: RedisTier,
  runId: string,
  opening: Promise<Database>,
  truth: Totals,
  started: number,
  marks: StartupMarks,
): Promise<Phases> {
  const name = `widgets-${runId}`
  const backend = new RedisBackend({ redis: redis.url })
  const stream = widgetStream(name, shards, backend, 'redis')
  const info = new Redis(redis.url)
  const names = Array.from({ length: options.workers }, (_, i) => `worker-${i + 1}`)
  const view = progressView(names, options)
  const samples = new Map<number, (sample: Sample & { name: string }) => void>()
  let nextSample = 0
  const children: Child[] = names.map((workerName) => {
    const config: WorkerConfig = {
      name: workerName,
      redisUrl: redis.url,
      stream: name,
      shards,
      namespace: name,
      tuning,
    }
    const process_ = fork(WORKER, [JSON.stringify(config)], {
      execArgv: compiled ? [] : ['--import', 'tsx', '--conditions=@phonon/source'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // Its own process group: a terminal's Ctrl-C reaches this process, which stops the workers.
      detached: true,
    })
    let failure: string | undefined
    const child: Child = {
      name: workerName,
      progress: { events: 0, merges: 0, flushes: 0, executions: 0, owned: 0 },
      send: (message) => {
        if (process_.connected) process_.send(message, undefined, {}, () => {})
      },
      kill: () => {
        if (process_.exitCode === null && process_.signalCode === null) process_.kill('SIGKILL')
      },
      exited: new Promise<void>((resolve, reject) =>
        process_.once('exit', (code, signal) =>
          code === 0
            ? resolve()
            : reject(
                new JobFailed(
                  `${workerName} exited with ${code ?? signal}${failure ? `: ${failure}` : ''}`,
                ),
              ),
        ),
      ),
    }
    child.exited.catch(() => undefined)
    process_.on('message', (message: ToParent) => {
      if (message.type === 'progress') {
        if (!child.reported) {
          child.reported = true
          if (children.every((c) => c.reported))
            marks.workersMs = Math.round(performance.now() - started)
        }
        child.progress = message
        view.update(workerName, message)
      } else if (message.type === 'sample')
        samples.get(message.id)?.({ ...message.sample, name: workerName })
      else if (message.type === 'done') child.done = message
      else failure = message.message
    })
    return child
  })
  /** Every worker's CPU and events now, and this process's and Redis's. */
  const sample = async () => {
    const id = nextSample++
    const replies: Array<Sample & { name: string }> = []
    const all = new Promise<void>((resolve) => {
      samples.set(id, (reply) => {
        replies.push(reply)
        if (replies.length === children.length) resolve()
      })
    })
    for (const child of children) child.send({ type: 'sample', id })
    // A worker busy with a long round answers late; without its answer the CPU is not reported.
    const answered = await withTimeout(all, 30_000).then(
      () => true,
      () => false,
    )
    samples.delete(id)
    return answered
      ? { workers: replies, parent: cpuMs(), redis: await redisStats(info) }
      : undefined
  }
  const failed = Promise.race(children.map((c) => c.exited.then(() => never())))
  let interrupted = false
  const stopAll = () => {
    for (const child of children) child.send({ type: 'stop' })
  }
  const interruption = (options.interrupted ?? never()).then(() => {
    interrupted = true
    stopAll()
  })
  try {
    const coordinator = backend.coordinator(stream.definition, APPLICATION)
    // Start-up: the database served (its URL sent to every worker), every worker running and
    // every shard leased, split evenly.
    const database = await Promise.race([failed, interruption.then(() => undefined), opening])
    if (database !== undefined) {
      for (const child of children)
        child.send({
          type: 'database',
          url: database.workerUrl,
          ...(database.schema === undefined ? {} : { schema: database.schema }),
        })
      await Promise.race([
        failed,
        interruption,
        poll(STARTUP_DEADLINE_MS, 'the workers did not lease every shard', () => {
          const owned = children.map((c) => c.progress.owned)
          const total = owned.reduce((a, b) => a + b, 0)
          return total === shards && Math.max(...owned) - Math.min(...owned) <= 1
        }),
      ])
    }
    const startupMs = performance.now() - started
    marks.workersMs ||= Math.round(startupMs)
    marks.leasesMs = Math.round(startupMs)
    const steadyStart = performance.now()
    const first = interrupted ? undefined : await sample()
    if (!interrupted) {
      await steadyPhase(stream, options, truth, coordinator, {
        failed,
        interruption,
        stopped: () => interrupted,
        handled: () => children.reduce((n, c) => n + c.progress.events, 0),
      })
    }
    const steadyMs = performance.now() - steadyStart
    const last = interrupted ? undefined : await sample()
    view.stop()
    const finishStart = performance.now()
    stopAll()
    await Promise.race([failed, Promise.all(children.map((c) => c.exited))])
    const finishMs = performance.now() - finishStart
    const done = children.flatMap((c) => (c.done === undefined ? [] : [c.done]))
    const cpu: ProcessCpu[] = []
    if (first !== undefined && last !== undefined) {
      const per = (process: string, ms: number) => ({
        process,
        cpuMs: Math.round(ms),
        cpuMicrosPerEvent: (ms * 1000) / options.events,
      })
      cpu.push(per('parent (generator, producer, PGlite)', last.parent - first.parent))
      for (const w of [...last.workers].sort((a, b) =>
        a.name.localeCompare(b.name, 'en', { numeric: true }),
      )) {
        const before = first.workers.find((f) => f.name === w.name)
        cpu.push(per(w.name, w.cpuMs - (before?.cpuMs ?? 0)))
      }
      cpu.push(per('redis-server', last.redis.cpuMs - first.redis.cpuMs))
    }
    return {
      startupMs,
      steadyMs,
      finishMs,
      cpu,
      redisCommands:
        first !== undefined && last !== undefined
          ? last.redis.commands - first.redis.commands
          : undefined,
      redisRoundTrips: done.reduce((n, d) => n + d.redisRoundTrips, 0),
      executions: done.reduce((n, d) => n + d.progress.executions, 0),
      workerStatements: done.reduce((n, d) => n + d.sqlStatements, 0),
      interrupted,
    }
  } finally {
    view.stop()
    stopAll()
    // Workers get a while to finish their round; then they are killed.
    await withTimeout(Promise.allSettled(children.map((c) => c.exited)), 15_000).catch(() => {
      for (const child of children) child.kill()
    })
    info.disconnect()
    await backend.close()
  }
}

/**
 * The steady phase: the events produced while the workers consume them, until every shard's
 * checkpoint is at its last event — or a worker failed (`failed` rejects), or the run was
 * interrupted.
 */
async function steadyPhase(
  stream: Stream<WidgetRecord>,
  options: StreamOptions,
  truth: Totals,
  coordinator: ReturnType<RedisBackend['coordinator']>,
  run: {
    readonly failed: Promise<never>
    readonly interruption: Promise<unknown>
    readonly stopped: () => boolean
    readonly handled: () => number
  },
): Promise<void> {
  const lastSequences = new Map<number, string>()
  await Promise.race([
    run.failed,
    produce(stream, options, truth, lastSequences, run.stopped, run.handled),
  ])
  await Promise.race([
    run.failed,
    run.interruption,
    waitCommitted(coordinator, lastSequences, run.stopped),
  ])
}

/**
 * Generates the events, counts the ground truth and puts them, `PRODUCE_BATCH` at a time, while
 * workers have handled at most `MAX_AHEAD` fewer; remembers each shard's last sequence.
 */
async function produce(
  stream: Stream<WidgetRecord>,
  options: StreamOptions,
  truth: Totals,
  lastSequences: Map<number, string>,
  stopped: () => boolean,
  handled: () => number,
) {
  let batch: WidgetRecord[] = []
  let put = 0
  const flush = async () => {
    while (put - handled() > MAX_AHEAD && !stopped()) await sleep(20)
    const results = await stream.putMany(batch)
    for (const { shard, sequence } of results) lastSequences.set(shard, sequence)
    put += batch.length
    batch = []
  }
  for (const event of widgetEvents(options)) {
    if (stopped()) return
    const widget = widgetId(event)
    count(truth, event, widget)
    batch.push({
      parent_post_id: event.parent_post_id,
      target_post_id: event.target_post_id,
      event_type: event.event_type,
      widget,
    })
    if (batch.length === PRODUCE_BATCH) await flush()
  }
  if (batch.length > 0) await flush()
}

/** Resolves once every shard's checkpoint is at (or past) its last sequence. */
async function waitCommitted(
  coordinator: ReturnType<RedisBackend['coordinator']>,
  lastSequences: ReadonlyMap<number, string>,
  stopped: () => boolean,
) {
  const pending = new Map(lastSequences)
  const seen = new Map<number, string | undefined>()
  let moved = performance.now()
  while (pending.size > 0 && !stopped()) {
    const shards = [...pending.keys()]
    const checkpoints = await Promise.all(shards.map((shard) => coordinator.checkpoint(shard)))
    for (const [i, shard] of shards.entries()) {
      const checkpoint = checkpoints[i]
      if (checkpoint !== seen.get(shard)) moved = performance.now()
      seen.set(shard, checkpoint)
      const last = pending.get(shard) as string
      if (checkpoint !== undefined && compareSequences(checkpoint, last) >= 0) pending.delete(shard)
    }
    // A run that stopped moving (workers alive but stuck) fails rather than waiting forever.
    if (performance.now() - moved > STALL_MS) {
      throw new JobFailed(
        `no checkpoint of shards ${[...pending.keys()].join(', ')} moved for ${STALL_MS / 1000} s`,
      )
    }
    if (pending.size > 0) await sleep(25)
  }
}

/** Total commands processed and CPU time of the Redis server. */
async function redisStats(client: Redis) {
  const text = await client.info()
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(text)?.[1] ?? 0)
  return {
    commands: field('total_commands_processed'),
    cpuMs: (field('used_cpu_user') + field('used_cpu_sys')) * 1000,
  }
}

/**
 * Without Redis: the same workers (Worker + phononSource) in this process, on a memory backend
 * and MemoryShards sharing one store, writing to the parent's sink.
 */
async function runInProcess(
  options: WidgetsOptions,
  shards: number,
  tuning: WorkerTuning,
  database: Database,
  truth: Totals,
  started: number,
  marks: StartupMarks,
): Promise<Phases> {
  const backend: Backend = new MemoryBackend()
  const stream = widgetStream('widgets-memory', shards, backend, 'memory')
  const store = new MemoryStore()
  const names = Array.from({ length: options.workers }, (_, i) => `worker-${i + 1}`)
  const view = progressView(names, options)
  let executions = 0
  const executeBatch = async (claims: readonly Claim[]) => {
    const outcome = await database.sink.executeBatch(claims)
    executions += claims.length - outcome.failed.length
    return outcome
  }
  const workers = names.map((name) => {
    const widgetCodec = codec()
    return {
      name,
      ...widgetWorker({
        stream,
        name,
        shard: new MemoryShard({
          codec: widgetCodec,
          store,
          workerId: name,
          rememberExecuted: true,
        }),
        codec: widgetCodec,
        tuning,
        executeBatch,
      }),
    }
  })
  const running = workers.map((w) => w.worker.run())
  const failed = Promise.race(running.map((r) => r.then(() => never())))
  const report = () => {
    for (const w of workers)
      view.update(
        w.name,
        progressOf(w.source.aggregator(), w.worker.processed, w.worker.owned().length),
      )
  }
  const ticker = setInterval(report, 250)
  let interrupted = false
  const interruption = (options.interrupted ?? never()).then(() => {
    interrupted = true
  })
  try {
    await Promise.race([
      failed,
      interruption,
      poll(STARTUP_DEADLINE_MS, 'the workers did not lease every shard', () => {
        const owned = workers.map((w) => w.worker.owned().length)
        return (
          owned.reduce((a, b) => a + b, 0) === shards &&
          Math.max(...owned) - Math.min(...owned) <= 1
        )
      }),
    ])
    const startupMs = performance.now() - started
    marks.workersMs ||= Math.round(startupMs)
    marks.leasesMs = Math.round(startupMs)
    const steadyStart = performance.now()
    const cpuBefore = cpuMs()
    if (!interrupted) {
      await steadyPhase(
        stream,
        options,
        truth,
        backend.coordinator(stream.definition, APPLICATION),
        {
          failed,
          interruption,
          stopped: () => interrupted,
          handled: () => workers.reduce((n, w) => n + w.worker.processed, 0),
        },
      )
    }
    const steadyMs = performance.now() - steadyStart
    const cpu = cpuMs() - cpuBefore
    const finishStart = performance.now()
    for (const w of workers) w.worker.stop()
    await Promise.race([failed, Promise.all(running)])
    report()
    const finishMs = performance.now() - finishStart
    return {
      startupMs,
      steadyMs,
      finishMs,
      cpu: interrupted
        ? []
        : [
            {
              process: 'this process (everything)',
              cpuMs: Math.round(cpu),
              cpuMicrosPerEvent: (cpu * 1000) / options.events,
            },
          ],
      redisCommands: undefined,
      redisRoundTrips: 0,
      executions,
      workerStatements: 0,
      interrupted,
    }
  } finally {
    clearInterval(ticker)
    view.stop()
    for (const w of workers) w.worker.stop()
    await Promise.allSettled(running)
  }
}

/** Progress: bars on a terminal, else a line on stderr every 2 s (or nothing). */
function progressView(names: readonly string[], options: WidgetsOptions) {
  const bars = new ProgressBars(
    names,
    options.events,
    options.progress ?? process.stdout.isTTY === true,
  )
  const lines =
    (options.progressLines ?? process.stdout.isTTY !== true) ? progressLines(2_000) : undefined
  const rows = new Map<string, WorkerProgress>()
  const started = performance.now()
  return {
    update(name: string, progress: WorkerProgress) {
      bars.update(name, progress)
      rows.set(name, progress)
      if (lines === undefined) return
      const events = [...rows.values()].reduce((n, p) => n + p.events, 0)
      const seconds = (performance.now() - started) / 1000
      lines.update(
        `widgets: ${events.toLocaleString('en-US')} of ${options.events.toLocaleString('en-US')} events handled by ${rows.size} workers, ${seconds.toFixed(1)} s`,
      )
    },
    stop() {
      bars.stop()
      lines?.done()
    },
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const never = () => new Promise<never>(() => {})

/** Polls `ready` every 20 ms; rejects after `ms`. */
async function poll(ms: number, message: string, ready: () => boolean) {
  const deadline = performance.now() + ms
  while (!ready()) {
    if (performance.now() > deadline) throw new JobFailed(`${message} within ${ms / 1000} s`)
    await sleep(20)
  }
}

/** `promise`, or a rejection after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}
