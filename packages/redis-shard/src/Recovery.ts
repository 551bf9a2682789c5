import { recoveryKey } from './keys.js'
import type { RedisShard } from './RedisShard.js'
import type { Claim } from './Shard.js'
import { callScript } from './scripts.js'

/** How many of a dead worker's resources one recovery step evicts at once. */
const RECOVERY_BATCH = 256

/** Options of a worker's {@link Recovery}. */
export interface RecoveryOptions {
  readonly heartbeatMs: number
  readonly deadAfterMs: number
  readonly execute: (claim: Claim) => Promise<void> | void
  readonly onError: (error: unknown) => void
}

/**
 * A worker's heartbeat and its recovery of dead workers (invariant 4). Every `heartbeatMs` the
 * worker records its heartbeat at server time and learns which workers' heartbeats are older
 * than `deadAfterMs`; for each, it takes that worker's recovery lock (one recoverer per dead
 * worker at a time), evicts the dead worker from every resource in its registry (in batches, one
 * script call per node; idempotent), executes and completes what the dead worker was the last
 * holder of or was executing, and deletes the registry entries of each batch once done (so an
 * interrupted recovery resumes where it stopped).
 */
export class Recovery {
  #timer: ReturnType<typeof setInterval> | undefined
  #beating = false
  #recovering: Promise<void> | undefined

  constructor(
    private readonly shard: RedisShard,
    private readonly options: RecoveryOptions,
  ) {}

  /**
   * Sends the first heartbeat, then beats every `heartbeatMs` (0: never) without keeping the
   * process alive. Recoveries run beside the heartbeat, never in its way: a long recovery (slow
   * sinks) must not let this worker's own heartbeat go stale.
   */
  async start(): Promise<void> {
    const dead = await this.heartbeat()
    if (this.options.heartbeatMs > 0) {
      this.#timer = setInterval(() => this.#tick(), this.options.heartbeatMs)
      this.#timer.unref()
    }
    this.#recoverInBackground(dead)
  }

  /** Stops the heartbeat and waits for a running recovery to finish. */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#recovering
  }

  /**
   * One heartbeat, then the recovery of every dead worker it reported. Returns the dead workers
   * it recovered.
   */
  async beat(): Promise<string[]> {
    return this.recoverAll(await this.heartbeat())
  }

  /**
   * Refreshes this worker's heartbeat (taking a new id when it was found stale) and returns the
   * workers whose heartbeat is older than `deadAfterMs`.
   */
  async heartbeat(): Promise<string[]> {
    const { workers } = this.shard.workerKeys(this.shard.incarnation)
    const reply = (await callScript(
      workers.client,
      'heartbeat',
      [workers.key],
      [this.shard.incarnation, this.options.deadAfterMs],
    )) as Array<number | string>
    if (reply[0] === 1) {
      // Our own heartbeat is stale: others are recovering our holds. Continue under a new id;
      // sessions held under the old one still fold when released (their tokens were evicted).
      this.shard.renewWorkerId()
      return this.heartbeat()
    }
    return reply.slice(1).map(String)
  }

  /** Recovers each of `dead` that no other worker is recovering; returns those it recovered. */
  async recoverAll(dead: readonly string[]): Promise<string[]> {
    const recovered: string[] = []
    for (const worker of dead) if (await this.recover(worker)) recovered.push(worker)
    return recovered
  }

  /** A timer tick: a heartbeat unless one is in flight, and a recovery unless one is running. */
  #tick(): void {
    if (this.#beating) return
    this.#beating = true
    this.heartbeat()
      .then((dead) => this.#recoverInBackground(dead), this.options.onError)
      .finally(() => {
        this.#beating = false
      })
  }

  /** Recovers `dead` beside the heartbeat, unless a recovery is running already. */
  #recoverInBackground(dead: readonly string[]): void {
    if (dead.length === 0 || this.#recovering) return
    this.#recovering = this.recoverAll(dead)
      .then(() => {}, this.options.onError)
      .finally(() => {
        this.#recovering = undefined
      })
  }

  /**
   * Recovers one dead worker, if no other worker is recovering it. Returns whether it did.
   */
  async recover(deadWorker: string): Promise<boolean> {
    const shard = this.shard
    const { workers, registry } = shard.workerKeys(deadWorker)
    const lock = recoveryKey(shard.namespace, deadWorker)
    const lease = shard.leaseMs
    if ((await workers.client.set(lock, shard.incarnation, 'PX', lease, 'NX')) !== 'OK')
      return false
    try {
      const entries = Object.entries(await registry.client.hgetall(registry.key))
      for (let at = 0; at < entries.length; at += RECOVERY_BATCH) {
        const chunk = entries
          .slice(at, at + RECOVERY_BATCH)
          .map(([resourceId, typeName]) => ({ resourceId, typeName }))
        let claims = (await shard.evictMany(deadWorker, chunk)).filter(
          (claim) => claim !== undefined,
        )
        while (claims.length > 0) {
          for (const claim of claims) await this.options.execute(claim)
          claims = (await shard.completeMany(claims)).filter(
            (claim) => claim instanceof Object && !(claim instanceof Error),
          ) as Claim[]
        }
        await shard.unregisterIdle(chunk.map((ref) => ref.resourceId))
        // Done with these: an interrupted recovery resumes after them.
        await registry.client.hdel(registry.key, ...chunk.map((ref) => ref.resourceId))
        await callScript(workers.client, 'extend', [lock], [shard.incarnation, lease])
      }
      await registry.client.del(registry.key)
      await workers.client.hdel(workers.key, deadWorker)
      return true
    } finally {
      await callScript(workers.client, 'unlock', [lock], [shard.incarnation])
    }
  }
}
