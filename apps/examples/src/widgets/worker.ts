/**
 * One worker process of the widgets job: a `@phonon/streams` Worker that leases shards of the
 * event stream (on Redis), feeds them through the exactly-once phonon source into its LRU,
 * shares through Redis (`@phonon/redis-shard`), and upserts what it is the last holder of into
 * SQL itself — PostgreSQL at DATABASE_URL, or the parent's PGlite served over the PostgreSQL
 * wire protocol.
 *
 * Started by the job (`runWidgets`) with its {@link WorkerConfig} as JSON; reports progress over
 * IPC; on `stop`, SIGTERM, SIGINT or the parent going away it commits its last round, releases
 * its sessions (executing what it is last to hold), gives up its leases, reports and exits.
 */
import { type Claim, connect } from '@phonon/redis-shard'
import { RedisBackend } from '@phonon/streams'
import { codec } from './model.js'
import { cpuMs, progressOf, type ToParent, type ToWorker, type WorkerConfig } from './protocol.js'
import { type CountingSink, openSink } from './sink.js'
import { widgetStream, widgetWorker } from './stream.js'

const config = JSON.parse(process.argv[2] as string) as WorkerConfig
/** Sends to the parent while it listens (a parent gone is not this worker's error). */
const send = (message: ToParent) => {
  if (process.connected) process.send?.(message, undefined, {}, () => {})
}

/** The database, once the parent sent where it is (PGlite starts while the workers do). */
let database: (url: string, schema: string | undefined) => void = () => {}
let noDatabase: (error: Error) => void = () => {}
const sqlOpening = new Promise<CountingSink>((resolve, reject) => {
  database = (url, schema) => openSink(url, schema, { migrate: false }).then(resolve, reject)
  noDatabase = reject
})
sqlOpening.catch(() => undefined)
/** Stops the worker once it runs (a stop may come before). */
let stop = () => {
  stopping = true
}
let stopping = false
let sample = () => ({ cpuMs: cpuMs(), events: 0 })
// Listening from the start: the parent may send the database or a stop while this one starts.
process.on('message', (message: ToWorker) => {
  if (message.type === 'database') database(message.url, message.schema)
  else if (message.type === 'stop') {
    noDatabase(new Error('stopped before the database was given'))
    stop()
  } else send({ type: 'sample', name: config.name, id: message.id, sample: sample() })
})
process.once('SIGTERM', () => stop())
process.once('SIGINT', () => stop())
process.once('disconnect', () => stop())
let sql: CountingSink | undefined
/** Writes claims, each row failing alone (`{ applied, skipped, failed }`, passed on as it is). */
const executeBatch = async (claims: readonly Claim[]) => {
  sql ??= await sqlOpening
  return sql.executeBatch(claims)
}
/** Widgets whose row the database refused, told once each (they are executed again each tick). */
const refused = new Set<string>()

try {
  const backend = new RedisBackend({ redis: config.redisUrl })
  const stream = widgetStream(config.stream, config.shards, backend, 'redis')
  const widgetCodec = codec()
  const shard = await connect({
    nodes: [config.redisUrl],
    codec: widgetCodec,
    namespace: config.namespace,
    workerId: config.name,
    // phononSource requires it: a log entry applied again must not count its executions twice.
    rememberExecuted: true,
    // What recovery of a dead worker executes goes the same way (one claim: its row's failure
    // fails the call, and recovery tries it again).
    execute: async (claim) => {
      const [failure] = (await executeBatch([claim])).failed
      if (failure !== undefined) throw failure.error
    },
  })
  let executions = 0
  const { worker, source } = widgetWorker({
    stream,
    name: config.name,
    shard,
    codec: widgetCodec,
    tuning: config.tuning,
    executeBatch: async (claims) => {
      const outcome = await executeBatch(claims)
      executions += claims.length - outcome.failed.length
      return outcome
    },
    onExecuteError: (claim, error) => {
      if (refused.has(claim.resourceId)) return
      refused.add(claim.resourceId)
      process.stderr.write(
        `${config.name}: the database refused ${claim.resourceId} (executed again each lease tick): ${(error as Error)?.message ?? String(error)}\n`,
      )
    },
  })
  const progress = () => ({
    ...progressOf(source.aggregator(), worker.processed, worker.owned().length),
    executions,
  })
  sample = () => ({ cpuMs: cpuMs(), events: worker.processed })
  const ticker = setInterval(
    () => send({ type: 'progress', name: config.name, ...progress() }),
    250,
  )
  const running = worker.run()
  stop = () => worker.stop()
  if (stopping) stop()
  await running
  clearInterval(ticker)
  send({
    type: 'done',
    name: config.name,
    progress: progress(),
    redisRoundTrips: shard.stats().roundTrips,
    sqlStatements: sql?.statements() ?? 0,
    cpuMs: cpuMs(),
  })
  await sql?.close()
  await backend.close()
} catch (error) {
  send({ type: 'failed', name: config.name, message: (error as Error)?.message ?? String(error) })
  process.exitCode = 1
} finally {
  process.disconnect?.()
}
