import { recoveryKey, workersKeys } from './keys.js'
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
  /** The incarnation whose first heartbeat was sent (a renewal announces a new one). */
  #announced: string | undefined
  /** The dead incarnations this worker is recovering now. */
  readonly #inRecovery = new Set<string>()
  /** Incarnations this worker renewed from whose registries are not swept yet (see sweep). */
  readonly #unswept = new Set<string>()

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
   * Refreshes this incarnation's heartbeat (renewing the incarnation when it was found stale) and
   * returns the incarnations to recover: those whose heartbeat is older than `deadAfterMs` and, at
   * this incarnation's first beat, the older incarnations of the same worker name.
   */
  async heartbeat(): Promise<Dead[]> {
    const shard = this.shard
    const first = this.#announced !== shard.incarnation
    const reply = (await callScript(
      shard.workersClient(),
      'heartbeat',
      workersKeys(shard.namespace),
      [
        shard.incarnation,
        shard.workerId,
        this.options.deadAfterMs,
        first ? shard.lineage.join(' ') : '-',
      ],
    )) as Array<number | string>
    if (reply[0] === 1) {
      // Our own heartbeat is stale: others are recovering our holds. Continue as a new
      // incarnation; open sessions are re-registered under it, their late releases still fold.
      this.#unswept.add(shard.incarnation)
      await shard.renew()
      return this.heartbeat()
    }
    this.#announced = shard.incarnation
    if (this.#unswept.size > 0) {
      const swept = await this.sweep([...this.#unswept]).catch(() => [])
      for (const incarnation of swept) this.#unswept.delete(incarnation)
    }
    const dead: Dead[] = []
    for (let i = 1; i < reply.length; i += 2) {
      const lineage = String(reply[i + 1] ?? '')
      dead.push({ incarnation: String(reply[i]), lineage: lineage ? lineage.split(' ') : [] })
    }
    return dead
  }

  /** Recovers each of `dead` that no other worker is recovering; returns those it recovered. */
  async recoverAll(dead: readonly Dead[]): Promise<string[]> {
    const recovered: string[] = []
    for (const { incarnation, lineage } of dead)
      if (await this.recover(incarnation, lineage)) recovered.push(incarnation)
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
  #recoverInBackground(dead: readonly Dead[]): void {
    if (dead.length === 0 || this.#recovering) return
    this.#recovering = this.recoverAll(dead)
      .then(() => {}, this.options.onError)
      .finally(() => {
        this.#recovering = undefined
      })
  }

  /**
   * Recovers one dead incarnation (and the incarnations it renewed from), if no other worker is
   * recovering it. Returns whether it did. Resumable: registry entries are deleted per batch once
   * done, and the heartbeat entry last, so a recoverer that dies leaves the rest to the next.
   */
  async recover(dead: string, lineage: readonly string[] = []): Promise<boolean> {
    const shard = this.shard
    const client = shard.workersClient()
    const registry = shard.registryOf(dead)
    const lock = recoveryKey(shard.namespace, dead)
    const lease = shard.leaseMs
    if (this.#inRecovery.has(dead) || !(await this.#lock(lock))) return false
    this.#inRecovery.add(dead)
    try {
      const entries = Object.entries(await registry.client.hgetall(registry.key))
      let watched = 0
      for (let at = 0; at < entries.length; at += RECOVERY_BATCH) {
        const chunk = entries
          .slice(at, at + RECOVERY_BATCH)
          .map(([resourceId, typeName]) => ({ resourceId, typeName }))
        const evicted = await shard.evictMany([dead, ...lineage], chunk)
        let claims = evicted.filter(isClaim)
        while (claims.length > 0) {
          for (const claim of claims) await this.options.execute(claim)
          claims = (await shard.completeMany(claims)).filter(isClaim)
        }
        await shard.unregisterIdle(chunk.map((ref) => ref.resourceId))
        // Done with these: an interrupted recovery resumes after them. A live owner's claim
        // (a stuck executor) stays listed, to be taken over once its lease runs out.
        const done = chunk.filter((_, i) => evicted[i] !== 'pending').map((ref) => ref.resourceId)
        watched += chunk.length - done.length
        if (done.length > 0) await registry.client.hdel(registry.key, ...done)
        await callScript(client, 'extend', [lock], [shard.incarnation, lease])
      }
      // Keep a dead incarnation whose resources are still watched: its stale heartbeat has the
      // next beat recover it again.
      if (watched > 0) return true
      await this.forget(dead)
      await this.sweep(lineage)
      return true
    } finally {
      this.#inRecovery.delete(dead)
      await callScript(client, 'unlock', [lock], [shard.incarnation])
    }
  }

  /**
   * Takes a recovery lock for this incarnation. One it holds already counts as taken: its `SET`
   * ran but the reply was lost, and the command sent again found the lock set (by itself), which
   * would otherwise leave the dead worker unrecovered until the lock's lease ran out.
   */
  async #lock(lock: string): Promise<boolean> {
    const { incarnation, leaseMs } = this.shard
    const client = this.shard.workersClient()
    if ((await client.set(lock, incarnation, 'PX', leaseMs, 'NX')) === 'OK') return true
    return (await callScript(client, 'extend', [lock], [incarnation, leaseMs])) === 1
  }

  /**
   * Deletes the registries of those of `incarnations` whose heartbeat is gone (recovered and
   * forgotten), and returns them. A worker back from a partition may write to the registry of the
   * incarnation it renewed from after that incarnation's recovery deleted it (commands queued
   * while cut off, or sent again on reconnect): nothing would read or delete it again. Its own
   * later commands go to the same connection after those, so its sweep comes last.
   */
  async sweep(incarnations: readonly string[]): Promise<string[]> {
    if (incarnations.length === 0) return []
    const [workers] = workersKeys(this.shard.namespace)
    const beats = await this.shard.workersClient().hmget(workers, ...incarnations)
    const gone = incarnations.filter((_, i) => beats[i] === null)
    await Promise.all(
      gone.map((incarnation) => {
        const registry = this.shard.registryOf(incarnation)
        return registry.client.del(registry.key)
      }),
    )
    return gone
  }

  /** Removes an incarnation's registry and heartbeat (nothing of it is left to recover). */
  async forget(incarnation: string): Promise<void> {
    const shard = this.shard
    const registry = shard.registryOf(incarnation)
    await registry.client.del(registry.key)
    const [workers, names, lineage] = workersKeys(shard.namespace)
    const client = shard.workersClient()
    await Promise.all([
      client.hdel(workers, incarnation),
      client.hdel(names, incarnation),
      client.hdel(lineage, incarnation),
    ])
  }
}

/** An incarnation to recover and the incarnations it renewed from. */
export interface Dead {
  readonly incarnation: string
  readonly lineage: readonly string[]
}

function isClaim(claim: Claim | undefined | Error | 'pending'): claim is Claim {
  return claim !== undefined && claim !== 'pending' && !(claim instanceof Error)
}
