import { type RedisServer, startRedis } from '@phonon/testkit'

/** Where an example's shared tier lives: a private redis-server, or in memory and why. */
export interface OptionalRedis {
  readonly server: RedisServer | undefined
  /** Why the example runs in memory; undefined on Redis. */
  readonly note: string | undefined
}

/**
 * Starts a private redis-server for an example unless `redis` is false; when none can be started
 * the example runs on its in-memory fallback (`fallback` names it in the note).
 */
export async function optionalRedis(
  redis: boolean | undefined,
  fallback: string,
): Promise<OptionalRedis> {
  if (redis === false) return { server: undefined, note: `asked to run in memory: ${fallback}` }
  try {
    return { server: await startRedis(), note: undefined }
  } catch (error) {
    return {
      server: undefined,
      note: `no redis-server could be started (${(error as Error).message}): ${fallback}`,
    }
  }
}
