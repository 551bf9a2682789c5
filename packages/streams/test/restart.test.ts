/**
 * The stream on the same Redis as phonon's shard, and that Redis restarted while two worker
 * processes consume (executing into a SQL table). With AOF (`appendfsync always`): no crash
 * loop (there is no consumer group to lose; each worker exits 0 when stopped), nothing lost,
 * nothing counted twice.
 */
import type { Sink } from '@phonon/adapters-django-style'
import { startRedis, uniqueName, waitFor } from '@phonon/testkit'
import { afterEach, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { drainAndCheck, killWorkers, startWorker } from './fixtures/loop.js'
import { createSchema } from './fixtures/sink.js'
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

/** How many executions the table has recorded. */
const executions = async (sink: Sink) =>
  Number(
    (
      await sink.db
        .selectFrom('phonon_executions')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirst()
    )?.n,
  )

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
    const before = await executions(sink)
    await stream.putMany(part)
    await waitFor('an execution', async () => (await executions(sink)) > before, 180_000)
    await server.restart()
  }
  await stream.putMany(events.slice(20_000))
  await drainAndCheck(server.url, backend, stream, workers, truthOf(events), sink)
}, 900_000)
