/**
 * The stream on the same Redis as phonon's shard, and that Redis restarted while two worker
 * processes consume (executing into a SQL table). With AOF (`appendfsync always`): no crash
 * loop (there is no consumer group to lose; each worker exits 0 when stopped), nothing lost,
 * nothing counted twice. Without persistence (everything in Redis gone: records, leases,
 * checkpoints, log, phonon's holds and pending state): what was put before the restart and not
 * yet executed may be lost, but every record put after it is counted, and nothing twice.
 */
import { startRedis, uniqueName, waitFor } from '@phonon/testkit'
import { afterEach, expect, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { caughtUp, drainAndCheck, killWorkers, startWorker } from './fixtures/loop.js'
import { createSchema, executionCount } from './fixtures/sink.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  await killWorkers()
  for (const step of cleanup.splice(0).reverse()) await step()
})

/** A private Redis and a schema of the shared PostgreSQL, both gone after the test. */
async function setUp(args: string[], name: string) {
  const server = await startRedis({ args })
  cleanup.push(() => server.stop())
  const schema = uniqueName(name)
  const sink = await createSchema(schema)
  cleanup.push(() => sink.drop())
  const config = defineStreams({ widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 } })
  const backend = new RedisBackend({ redis: server.url })
  backend.redis.on('error', () => {}) // while the server restarts
  cleanup.push(() => backend.close())
  const stream = getStream<WidgetEvent>('widgets', config, backend)
  return { server, schema, sink, backend, stream }
}

test('Redis restarted twice with AOF under two workers: table == truth', async () => {
  const { server, schema, sink, backend, stream } = await setUp(
    ['--appendonly', 'yes', '--appendfsync', 'always'],
    'streams_restart_aof',
  )
  const events = [...widgetEvents(30_000, 2_000, 3)]
  const workers = ['r1', 'r2'].map((name) => startWorker(server.url, name, 3_000, schema))
  // Each restart once the workers executed something of the latest batch, while they still have
  // records of it to read.
  for (const part of [events.slice(0, 10_000), events.slice(10_000, 20_000)]) {
    const before = await executionCount(sink)
    await stream.putMany(part)
    await waitFor('an execution', async () => (await executionCount(sink)) > before, 180_000)
    await server.restart()
  }
  await stream.putMany(events.slice(20_000))
  await drainAndCheck(server.url, backend, stream, workers, truthOf(events), sink)
}, 900_000)

test('Redis restarted without persistence under two workers: every record put after it counted once', async () => {
  const { server, schema, sink, backend, stream } = await setUp([], 'streams_restart_nopersist')
  const before = [...widgetEvents(30_000, 2_000, 3)]
  const after = [...widgetEvents(10_000, 2_000, 5)]
  const workers = ['r1', 'r2'].map((name) => startWorker(server.url, name, 3_000, schema))
  await stream.putMany(before)
  // Restarted once the workers executed some, while they still have records to read: the
  // records, leases, checkpoints, log and phonon's state are gone under them.
  await waitFor('executions', async () => (await executionCount(sink)) > 800, 180_000)
  await server.restart()
  for (let i = 0; i < stream.definition.shards; i++) {
    expect(await backend.last(stream.definition, i)).toBeUndefined() // the records are gone
  }
  // In small batches from the moment it answers: records arrive while the workers still read
  // under the leases they had (gone with the data) and before they took leases again.
  for (let i = 0; i < after.length; i += 250) await stream.putMany(after.slice(i, i + 250))
  // Caught up well within the time it takes without a restart on this loaded machine (seconds):
  // a worker stuck on releases the shard refuses for good stops its shards meanwhile.
  await waitFor('every shard checkpointed', () => caughtUp(backend, stream), 120_000)
  // No crash loop: both workers still run (and exit 0 when stopped, in the drain).
  expect(workers.map((child) => child.exitCode)).toEqual([null, null])
  // What was put before the restart may be lost (not yet executed), never counted twice.
  const beforeAndAfter = truthOf([...before, ...after])
  await drainAndCheck(
    server.url,
    backend,
    stream,
    workers,
    { atLeast: truthOf(after), atMost: beforeAndAfter },
    sink,
  )
}, 900_000)
