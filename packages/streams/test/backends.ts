/**
 * The backends every conformance test runs on: memory, Redis Streams on a private server, and
 * Kinesis through the AWS SDK against a private kinesalite.
 */
import {
  type KinesaliteServer,
  type RedisServer,
  startKinesalite,
  startRedis,
} from '@phonon/testkit'
import { afterAll, beforeAll } from 'vitest'
import type { Backend } from '../src/index.js'
import { KinesisBackend, MemoryBackend, RedisBackend } from '../src/index.js'

/** Every backend's name, for suites that run on each. */
export const BACKENDS = ['memory', 'redis', 'kinesis'] as const

/** Starts a private redis-server and kinesalite for the file; returns makers of fresh backends. */
export function backends(): Record<(typeof BACKENDS)[number], () => Backend> {
  let server: RedisServer
  let kinesalite: KinesaliteServer
  beforeAll(async () => {
    ;[server, kinesalite] = await Promise.all([startRedis(), startKinesalite()])
  })
  afterAll(async () => {
    await Promise.all([server?.stop(), kinesalite?.stop()])
  })
  return {
    memory: () => new MemoryBackend(),
    redis: () => new RedisBackend({ redis: server.url }),
    kinesis: () =>
      new KinesisBackend({
        endpoint: kinesalite.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        createStreams: true,
      }),
  }
}
