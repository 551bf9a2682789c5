/** The backends every conformance test runs on: memory, and Redis Streams on a private server. */
import { type RedisServer, startRedis } from '@phonon/testkit'
import { afterAll, beforeAll } from 'vitest'
import type { Backend } from '../src/index.js'
import { MemoryBackend, RedisBackend } from '../src/index.js'

/** Starts a private redis-server for the file; returns makers of fresh backends by name. */
export function backends(): Record<'memory' | 'redis', () => Backend> {
  let server: RedisServer
  beforeAll(async () => {
    server = await startRedis()
  })
  afterAll(async () => {
    await server?.stop()
  })
  return {
    memory: () => new MemoryBackend(),
    redis: () => new RedisBackend({ redis: server.url }),
  }
}
