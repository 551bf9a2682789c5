import { AlreadyLocked, ArgumentError, LockNotOwned } from '@phonon/core'
import type { LockHandle, LockOptions } from './Shard.js'
import type { Client } from './scripts.js'
import { callScript } from './scripts.js'

/**
 * Tries `attempt` until it grants a lock: at once, or, with `block`, again after a jittered,
 * capped exponential backoff (so contenders do not retry in lockstep) until `timeoutMs` or the
 * signal.
 * @throws {@link AlreadyLocked} when no attempt succeeded in time.
 */
export async function withBackoff<T>(
  resourceId: string,
  options: LockOptions,
  attempt: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000)
  for (let tries = 0; ; tries++) {
    const granted = await attempt()
    if (granted !== undefined) return granted
    if (!options.block || Date.now() >= deadline || options.signal?.aborted)
      throw new AlreadyLocked(resourceId)
    const wait = Math.min(200, 5 * 2 ** Math.min(tries, 6)) * (0.5 + Math.random())
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(wait, Math.max(0, deadline - Date.now()))),
    )
  }
}

/** A lock's time to live, checked. @throws {@link ArgumentError} unless a positive number. */
export function lockTtl(ttlMs: number | undefined): number {
  const ttl = ttlMs ?? 30_000
  if (!Number.isFinite(ttl) || ttl <= 0)
    throw new ArgumentError(`ttlMs must be a positive number, got ${ttl}`)
  return ttl
}

/** The locks one worker holds on Redis, so that `close()` can release them. */
export class RedisLocks {
  readonly #held = new Set<{ client: Client; key: string; token: string }>()

  /** @param count - called once per script call, for the shard's stats. */
  constructor(private readonly count: () => void) {}

  /**
   * Takes the lock `keys[0]` (fencing counter `keys[1]`) of a resource for `token`.
   * @throws {@link AlreadyLocked} when it cannot be had in time.
   */
  take(
    client: Client,
    resourceId: string,
    keys: [string, string],
    token: string,
    options: LockOptions,
  ): Promise<LockHandle> {
    const ttl = lockTtl(options.ttlMs)
    return withBackoff(resourceId, options, async () => {
      this.count()
      const fence = Number(await callScript(client, 'lock', keys, [token, ttl]))
      return fence > 0 ? this.#handle(client, resourceId, keys[0], token, fence) : undefined
    })
  }

  /** Releases every lock still held (on close); failures are ignored. */
  async releaseAll(): Promise<void> {
    await Promise.allSettled(
      [...this.#held].map(({ client, key, token }) => callScript(client, 'unlock', [key], [token])),
    )
    this.#held.clear()
  }

  #handle(
    client: Client,
    resourceId: string,
    key: string,
    token: string,
    fencingToken: number,
  ): LockHandle {
    const entry = { client, key, token }
    this.#held.add(entry)
    const owned = async (name: 'unlock' | 'extend', args: Array<string | number>, what: string) => {
      this.count()
      if (Number(await callScript(client, name, [key], [token, ...args])) !== 1) {
        this.#held.delete(entry)
        throw new LockNotOwned(
          `cannot ${what} the lock of ${resourceId}: not held by this handle (expired or taken over)`,
        )
      }
    }
    return {
      resourceId,
      fencingToken,
      release: async () => {
        await owned('unlock', [], 'release')
        this.#held.delete(entry)
      },
      extend: (ttlMs) => owned('extend', [lockTtl(ttlMs)], 'extend'),
    }
  }
}
