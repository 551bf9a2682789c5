/**
 * The stream on the same Redis as phonon's shard, and that Redis restarted while two worker
 * processes consume (executing into a SQL table). With AOF (`appendfsync always`): no crash
 * loop (there is no consumer group to lose; each worker exits 0 when stopped), nothing lost,
 * nothing counted twice.
 */
import type { Sink } from '@phonon/adapters-django-style'
import { type RedisServer, startRedis, uniqueName, waitFor } from '@phonon/testkit'
import { afterAll, beforeAll, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { drainAndCheck, killWorkers, startWorker } from './fixtures/loop.js'
import { createSchema } from './fixtures/sink.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

let server: RedisServer
let sink: Sink & { drop(): Promise<void> }
const schema = uniqueName('streams_restart')
beforeAll(async () => {
  server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
  sink = await createSchema(schema)
})
afterAll(async () => {
  await killWorkers()
  await sink?.drop()
  await server?.stop()
})

test('Redis restarted twice with AOF under two workers: table == truth', async () => {
  const config = defineStreams({ widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 } })
  const backend = new RedisBackend({ redis: server.url })
  backend.redis.on('error', () => {}) // while the server restarts
  const stream = getStream<WidgetEvent>('widgets', config, backend)
  const events = [...widgetEvents(30_000, 2_000, 3)]
  const workers = ['r1', 'r2'].map((name) => startWorker(server.url, name, 3_000, schema))
  const coordinator = backend.coordinator(stream.definition, 'widgets-test')
  const committed = async () => {
    const checkpoints = await Promise.all(
      Array.from({ length: 16 }, (_, i) => coordinator.checkpoint(i)),
    )
    return checkpoints.filter((c) => c !== undefined).length
  }
  // Each restart once the workers have committed rounds of the latest batch, while they still
  // have records to read.
  for (const [i, part] of [events.slice(0, 10_000), events.slice(10_000, 20_000)].entries()) {
    const before =
      i === 0
        ? 0
        : (
            await sink.db
              .selectFrom('phonon_executions')
              .select((eb) => eb.fn.countAll().as('n'))
              .executeTakeFirst()
          )?.n
    await stream.putMany(part)
    await waitFor(
      'a round committed',
      async () =>
        i === 0
          ? (await committed()) > 0
          : Number(
              (
                await sink.db
                  .selectFrom('phonon_executions')
                  .select((eb) => eb.fn.countAll().as('n'))
                  .executeTakeFirst()
              )?.n,
            ) > Number(before),
      60_000,
    )
    await server.restart()
  }
  await stream.putMany(events.slice(20_000))
  await drainAndCheck(server.url, backend, stream, workers, truthOf(events), sink)
  await backend.close()
}, 240_000)
