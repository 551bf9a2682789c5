/**
 * One worker process of the widgets job: consumes the event stream through a Redis Streams
 * consumer group, aggregates in its LRU (`withLocalAggregation`: a message is acked once its
 * update is folded into Redis), shares through Redis, and executes what it is the last holder of
 * into SQL — PostgreSQL directly, or PGlite through its parent, which owns the embedded database.
 *
 * Started by the job (`runWidgets`) with its {@link WorkerConfig} as JSON; reports progress over
 * IPC; on `stop` (or SIGTERM) it stops reading, closes its aggregator (every session released and
 * executed), reports, and exits.
 */

import { type AckableMessage, createAggregator, withLocalAggregation } from '@phonon/lru-update'
import type { Claim } from '@phonon/redis-shard'
import { connect } from '@phonon/redis-shard'
import { Redis } from 'ioredis'
import { codec, type WidgetEvent, type WidgetUpdate, widgetUpdate } from './model.js'
import {
  type ExecutionMessage,
  progressOf,
  type ToParent,
  type ToWorker,
  type WorkerConfig,
} from './protocol.js'
import { type CountingSink, openSink } from './sink.js'

/** A consumer silent this long is presumed dead: its unacked messages are claimed (ms). */
const DEAD_CONSUMER_MS = 30_000

const config = JSON.parse(process.argv[2] as string) as WorkerConfig
const send = (message: ToParent) => process.send?.(message)

const redis = new Redis(config.redisUrl, { enableAutoPipelining: true })
const sql: CountingSink | undefined =
  config.databaseUrl === undefined ? undefined : await openSink(config.databaseUrl, config.schema)
const executeBatch = (claims: readonly Claim[]) =>
  sql === undefined ? executeInParent(claims) : sql.executeBatch(claims)
const shard = await connect({
  nodes: [config.redisUrl],
  codec: codec(),
  namespace: config.namespace,
  workerId: config.name,
  // What recovery of a dead worker executes goes the same way.
  execute: (claim) => executeBatch([claim]),
})
const aggregator = createAggregator({
  shard,
  max: config.capacity,
  flushIntervalMs: config.flushIntervalMs,
  executeBatch,
})

/** Executions handed to the parent, waiting for its answer. */
const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>()
let nextId = 0
function executeInParent(claims: readonly Claim[]): Promise<void> {
  const id = nextId++
  const executions: ExecutionMessage[] = claims.map((claim) => ({
    resourceId: claim.resourceId,
    epoch: claim.epoch,
    aggregate: (claim.update as WidgetUpdate).aggregate(),
  }))
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject })
    send({ type: 'execute', id, executions })
  })
}

type Message = AckableMessage & { readonly event: WidgetEvent }
const handle = withLocalAggregation<Message>(aggregator, (message) => widgetUpdate(message.event))
const toMessage = ([id, fields]: [string, string[]]): Message => ({
  event: JSON.parse(fields[1] as string) as WidgetEvent,
  ack: async () => {
    await redis.xack(config.stream, config.group, id)
  },
  nack: () => {}, // left pending: claimed by another consumer if this one dies
})

const progress = () => progressOf(aggregator)

let running = true
process.on('message', (message: ToWorker) => {
  if (message.type === 'stop') running = false
  else {
    const waiter = pending.get(message.id)
    pending.delete(message.id)
    if (message.error === undefined) waiter?.resolve()
    else waiter?.reject(new Error(message.error))
  }
})
process.once('SIGTERM', () => {
  running = false
})
const ticker = setInterval(() => send({ type: 'progress', name: config.name, ...progress() }), 200)

type Entries = Array<[string, string[]]>
let lastClaim = Date.now()
while (running) {
  if (Date.now() - lastClaim > DEAD_CONSUMER_MS / 3) {
    lastClaim = Date.now()
    const [, claimed] = (await redis.xautoclaim(
      config.stream,
      config.group,
      config.name,
      DEAD_CONSUMER_MS,
      '0-0',
      'COUNT',
      500,
    )) as [string, Entries]
    for (const entry of claimed) await handle(toMessage(entry))
  }
  const reply = (await redis.xreadgroup(
    'GROUP',
    config.group,
    config.name,
    'COUNT',
    500,
    'BLOCK',
    100,
    'STREAMS',
    config.stream,
    '>',
  )) as Array<[string, Entries]> | null
  for (const entry of reply?.[0]?.[1] ?? []) await handle(toMessage(entry))
}

await aggregator.close()
clearInterval(ticker)
send({
  type: 'done',
  name: config.name,
  progress: progress(),
  redisRoundTrips: aggregator.stats().shard.roundTrips,
  sqlStatements: sql?.statements() ?? 0,
})
await sql?.close()
await redis.quit()
process.disconnect?.()
