/**
 * The stream on the same Redis as the shard, and that Redis restarted (with AOF) while two
 * workers consume: no crash loop (there is no consumer group to lose), nothing lost, nothing
 * counted twice.
 */
import { type RedisServer, startRedis, waitFor } from '@phonon/testkit'
import { afterAll, beforeAll, test } from 'vitest'
import { defineStreams, getStream, RedisBackend } from '../src/index.js'
import { drainAndCheck, startWorker } from './fixtures/loop.js'
import { truthOf, type WidgetEvent, widgetEvents } from './fixtures/widgets.js'

let server: RedisServer
beforeAll(async () => {
  server = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
})
afterAll(async () => {
  await server?.stop()
})

test('Redis restarted with AOF under two workers: sink == truth', async () => {
  const config = defineStreams({ widgets: { name: 'widgets', partitionKey: 'widget', shards: 16 } })
  const backend = new RedisBackend({ redis: server.url })
  backend.redis.on('error', () => {}) // while the server restarts
  const stream = getStream<WidgetEvent>('widgets', config, backend)
  const events = [...widgetEvents(10_000, 2_000, 3)]
  const workers = ['r1', 'r2'].map((name) => startWorker(server.url, name, 3_000))
  await stream.putMany(events.slice(0, 5_000))
  // Once the workers have committed rounds, restart the server under them.
  const coordinator = backend.coordinator(stream.definition, 'widgets-test')
  await waitFor(
    'a first round committed',
    async () => (await coordinator.checkpoint(0)) !== undefined,
    60_000,
  )
  await server.restart()
  await stream.putMany(events.slice(5_000))
  await drainAndCheck(server.url, backend, stream, workers, truthOf(events))
  await backend.close()
}, 180_000)
