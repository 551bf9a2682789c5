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
import { connect } from '@phonon/redis-shard'
import { RedisBackend } from '@phonon/streams'
import { codec } from './model.js'
import { cpuMs, progressOf, type ToParent, type ToWorker, type WorkerConfig } from './protocol.js'
import { openSink } from './sink.js'
import { widgetStream, widgetWorker } from './stream.js'

const config = JSON.parse(process.argv[2] as string) as WorkerConfig
/** Sends to the parent while it listens (a parent gone is not this worker's error). */
const send = (message: ToParent) => {
  if (process.connected) process.send?.(message, undefined, {}, () => {})
}

try {
  const sql = await openSink(config.databaseUrl, config.schema, { migrate: false })
  const backend = new RedisBackend({ redis: config.redisUrl })
  const stream = widgetStream(config.stream, config.shards, backend, 'redis')
  const widgetCodec = codec()
  const shard = await connect({
    nodes: [config.redisUrl],
    codec: widgetCodec,
    namespace: config.namespace,
    workerId: config.name,
    // What recovery of a dead worker executes goes the same way.
    execute: (claim) => sql.executeBatch([claim]),
  })
  let executions = 0
  const { worker, source } = widgetWorker({
    stream,
    name: config.name,
    shard,
    codec: widgetCodec,
    tuning: config.tuning,
    executeBatch: async (claims) => {
      await sql.executeBatch(claims)
      executions += claims.length
    },
  })
  const progress = () => ({
    ...progressOf(source.aggregator(), worker.processed, worker.owned().length),
    executions,
  })
  const stop = () => worker.stop()
  process.on('message', (message: ToWorker) => {
    if (message.type === 'stop') stop()
    else send({ type: 'sample', name: config.name, id: message.id, sample: sample() })
  })
  const sample = () => ({ cpuMs: cpuMs(), events: worker.processed })
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
  process.once('disconnect', stop)
  const ticker = setInterval(
    () => send({ type: 'progress', name: config.name, ...progress() }),
    250,
  )
  await worker.run()
  clearInterval(ticker)
  send({
    type: 'done',
    name: config.name,
    progress: progress(),
    redisRoundTrips: shard.stats().roundTrips,
    sqlStatements: sql.statements(),
    cpuMs: cpuMs(),
  })
  await sql.close()
  await backend.close()
} catch (error) {
  send({ type: 'failed', name: config.name, message: (error as Error)?.message ?? String(error) })
  process.exitCode = 1
} finally {
  process.disconnect?.()
}
