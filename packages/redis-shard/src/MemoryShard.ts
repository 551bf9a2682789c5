import { randomUUID } from 'node:crypto'
import { type Codec, LockNotOwned, Model, ShardError, type Update } from '@phonon/core'
import { lockTtl, withBackoff } from './Locks.js'
import { TypePlans } from './plan.js'
import {
  type Claim,
  executeClaim,
  type FoldResult,
  type Hold,
  type LockHandle,
  type LockOptions,
  type ReleaseResult,
  type ResourceRef,
  type Shard,
  type ShardStats,
} from './Shard.js'

/** One resource's shared state: what the Redis keys of `lua/includes/resource.lua` hold. */
interface Resource {
  readonly holders: Set<string>
  readonly evicted: Set<string>
  /** The pending state: a merged model update, or encoded custom updates. */
  pending: Update | undefined
  deltas: string[]
  mods: number
  exec: { epoch: number; owner: string; lease: number; claim: Claim; holder: string } | undefined
  lastEpoch: number
  forcedExpiry: boolean
  lock: { token: string; expires: number } | undefined
  fence: number
}

/**
 * The state several in-process workers share: the in-memory counterpart of a Redis server.
 * Create one and pass it to every {@link MemoryShard} that should see the same resources.
 */
export class MemoryStore {
  readonly resources = new Map<string, Resource>()
  readonly registries = new Map<string, Map<string, string>>()

  resource(resourceId: string): Resource {
    let resource = this.resources.get(resourceId)
    if (resource === undefined) {
      resource = {
        holders: new Set(),
        evicted: new Set(),
        pending: undefined,
        deltas: [],
        mods: 0,
        exec: undefined,
        lastEpoch: 0,
        forcedExpiry: false,
        lock: undefined,
        fence: 0,
      }
      this.resources.set(resourceId, resource)
    }
    return resource
  }
}

/** Options of a {@link MemoryShard}. */
export interface MemoryShardOptions {
  /** The update types this worker can fold and execute. */
  readonly codec: Codec
  /** The state shared with other in-process workers. Default: a store of its own. */
  readonly store?: MemoryStore
  /** This worker's id. Default: a random UUID. */
  readonly workerId?: string
  /** How long a claim is reserved for its owner (ms). Default 30,000. */
  readonly leaseMs?: number
  /** The largest delta one release may carry (bytes). Default 4 MiB. */
  readonly maxDeltaBytes?: number
  /** Executes claims found by `recover`. Default: `claim.update.execute(claim)`. */
  readonly execute?: (claim: Claim) => Promise<void> | void
}

/**
 * The shared tier in process: the embedded default for a single process, and the reference model
 * the Lua scripts are tested against (same results for the same operations). Every operation is
 * synchronous underneath, so it is atomic like a script.
 */
export class MemoryShard implements Shard {
  readonly workerId: string
  readonly store: MemoryStore
  readonly #codec: Codec
  readonly #leaseMs: number
  readonly #execute: (claim: Claim) => Promise<void> | void
  readonly #types: TypePlans
  readonly #locks = new Set<{ resource: Resource; token: string }>()
  #sequence = 0
  #calls = 0
  #closed = false

  constructor(options: MemoryShardOptions) {
    this.#codec = options.codec
    this.store = options.store ?? new MemoryStore()
    this.workerId = options.workerId ?? randomUUID()
    this.#leaseMs = options.leaseMs ?? 30_000
    this.#types = new TypePlans(options.codec, options.maxDeltaBytes ?? 4 * 2 ** 20)
    this.#execute = options.execute ?? executeClaim
  }

  async acquire(target: Update | ResourceRef): Promise<Hold> {
    return (await this.acquireMany([target]))[0] as Hold
  }

  async acquireMany(targets: ReadonlyArray<Update | ResourceRef>): Promise<Hold[]> {
    this.#begin()
    const holds = targets.map((target) => ({
      ...this.#types.ref(target),
      holder: `${this.workerId}/${++this.#sequence}`,
    }))
    for (const hold of holds) {
      this.#registry(this.workerId).set(hold.resourceId, hold.typeName)
      this.store.resource(hold.resourceId).holders.add(hold.holder)
    }
    return holds
  }

  async fold(hold: Hold, delta: Update): Promise<FoldResult> {
    return (await this.foldMany([[hold, delta]]))[0] as FoldResult
  }

  async foldMany(items: ReadonlyArray<readonly [Hold, Update]>): Promise<FoldResult[]> {
    this.#begin()
    for (const [hold, delta] of items) this.#types.plan(hold.typeName).deltaArgs(delta)
    return items.map(([hold, delta]) => {
      const resource = this.store.resource(hold.resourceId)
      const held = resource.holders.has(hold.holder)
      if (!held && !resource.evicted.has(hold.holder)) {
        throw new ShardError(`${hold.resourceId}: fold by a session that does not hold it`)
      }
      this.#foldDelta(resource, delta)
      if (!held) return { timesModified: 0, forcedExpiry: true, evicted: true }
      return { timesModified: resource.mods, forcedExpiry: resource.forcedExpiry, evicted: false }
    })
  }

  async release(hold: Hold, delta?: Update): Promise<ReleaseResult> {
    return (await this.releaseMany([[hold, delta]]))[0] as ReleaseResult
  }

  async releaseMany(
    items: ReadonlyArray<readonly [Hold, Update | undefined]>,
  ): Promise<ReleaseResult[]> {
    this.#begin()
    for (const [hold, delta] of items) this.#types.plan(hold.typeName).deltaArgs(delta)
    return items.map(([hold, delta]) => {
      const resource = this.store.resource(hold.resourceId)
      if (!resource.holders.delete(hold.holder) && !resource.evicted.delete(hold.holder)) {
        // Released already; its claim, if pending, is handed out again (as the script does).
        const pending = resource.exec?.holder === hold.holder ? resource.exec.claim : undefined
        return pending
          ? ({ last: true, claim: pending } as const)
          : ({ last: false, reason: 'released' } as const)
      }
      this.#foldDelta(resource, delta)
      if (resource.holders.size > 0) return { last: false, reason: 'held' } as const
      if (resource.exec) return { last: false, reason: 'pending' } as const
      const claim = this.#claimIfIdle(hold.resourceId, hold.typeName, resource, hold.holder)
      this.#forgetIdle(hold.resourceId, resource)
      return claim ? ({ last: true, claim } as const) : ({ last: false, reason: 'empty' } as const)
    })
  }

  async completeExecution(claim: Claim): Promise<Claim | undefined> {
    this.#begin()
    const resource = this.store.resource(claim.resourceId)
    if (resource.exec?.epoch !== claim.epoch) return undefined
    resource.exec = undefined
    const next = this.#claimIfIdle(claim.resourceId, claim.typeName, resource)
    this.#forgetIdle(claim.resourceId, resource)
    return next
  }

  async completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined>> {
    const next: Array<Claim | undefined> = []
    for (const claim of claims) next.push(await this.completeExecution(claim))
    return next
  }

  async count(resourceId: string): Promise<number> {
    this.#begin()
    return this.store.resources.get(resourceId)?.holders.size ?? 0
  }

  async timesModified(resourceId: string): Promise<number> {
    this.#begin()
    return this.store.resources.get(resourceId)?.mods ?? 0
  }

  async forceExpiry(resourceId: string): Promise<void> {
    this.#begin()
    this.store.resource(resourceId).forcedExpiry = true
  }

  async lock(resourceId: string, options: LockOptions = {}): Promise<LockHandle> {
    this.#begin()
    const resource = this.store.resource(resourceId)
    const ttl = lockTtl(options.ttlMs)
    const token = `${this.workerId}/lock/${++this.#sequence}`
    return withBackoff(resourceId, options, async () => {
      const now = Date.now()
      if (resource.lock !== undefined && resource.lock.expires > now) return undefined
      resource.lock = { token, expires: now + ttl }
      const entry = { resource, token }
      this.#locks.add(entry)
      return this.#lockHandle(resourceId, entry, ++resource.fence)
    })
  }

  /**
   * Recovers a dead worker: evicts its holds, takes over what it was executing, executes what it
   * was the last holder of. Returns whether there was anything of it to recover.
   */
  async recover(deadWorker: string): Promise<boolean> {
    this.#begin()
    const registry = this.store.registries.get(deadWorker)
    if (registry === undefined) return false
    const prefix = `${deadWorker}/`
    for (const [resourceId, typeName] of registry) {
      const resource = this.store.resource(resourceId)
      for (const holder of resource.holders) {
        if (holder.startsWith(prefix)) {
          resource.holders.delete(holder)
          resource.evicted.add(holder)
        }
      }
      let claim: Claim | undefined
      if (resource.exec) {
        if (resource.exec.owner === deadWorker || resource.exec.lease < Date.now()) {
          resource.exec.owner = this.workerId
          claim = resource.exec.claim
        }
      } else claim = this.#claimIfIdle(resourceId, typeName, resource)
      while (claim) {
        this.#registry(this.workerId).set(resourceId, typeName)
        await this.#execute(claim)
        claim = await this.completeExecution(claim)
      }
      registry.delete(resourceId)
    }
    this.store.registries.delete(deadWorker)
    return true
  }

  stats(): ShardStats {
    return { roundTrips: this.#calls, scripts: this.#calls }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  /** Releases this worker's locks; the shared store stays as it is. */
  async close(): Promise<void> {
    for (const { resource, token } of this.#locks)
      if (resource.lock?.token === token) resource.lock = undefined
    this.#locks.clear()
    this.#closed = true
  }

  // ---------------------------------------------------------------------------------------------

  #foldDelta(resource: Resource, delta: Update | undefined): void {
    if (delta === undefined || (isModelUpdate(delta) && delta.isEmpty())) return
    if (isModelUpdate(delta)) {
      if (resource.pending === undefined) {
        resource.pending = delta.model.create({ id: delta.id })
      }
      resource.pending.merge(delta)
    } else resource.deltas.push(this.#codec.stringify(delta))
    resource.mods++
  }

  #claimIfIdle(
    resourceId: string,
    typeName: string,
    resource: Resource,
    holder = '',
  ): Claim | undefined {
    if (resource.holders.size > 0 || resource.exec || resource.mods === 0) return undefined
    const epoch = Math.max(resource.lastEpoch + 1, Date.now() * 1000)
    resource.lastEpoch = epoch
    const update =
      resource.pending ?? this.#types.plan(typeName).claimed(resourceId, [resource.deltas])
    const claim = { resourceId, typeName, epoch, update }
    resource.exec = {
      epoch,
      owner: this.workerId,
      lease: Date.now() + this.#leaseMs,
      claim,
      holder,
    }
    resource.pending = undefined
    resource.deltas = []
    resource.mods = 0
    resource.forcedExpiry = false
    return claim
  }

  /** Drops the resource from this worker's registry when it has no holder or claim left. */
  #forgetIdle(resourceId: string, resource: Resource): void {
    const mine = `${this.workerId}/`
    if (
      [...resource.holders].some((h) => h.startsWith(mine)) ||
      resource.exec?.owner === this.workerId
    )
      return
    this.store.registries.get(this.workerId)?.delete(resourceId)
  }

  #lockHandle(
    resourceId: string,
    entry: { resource: Resource; token: string },
    fencingToken: number,
  ): LockHandle {
    const owned = () => {
      const lock = entry.resource.lock
      if (lock?.token !== entry.token || lock.expires <= Date.now()) {
        this.#locks.delete(entry)
        throw new LockNotOwned(
          `the lock of ${resourceId} is not held by this handle (expired or taken over)`,
        )
      }
      return lock
    }
    return {
      resourceId,
      fencingToken,
      release: async () => {
        owned()
        entry.resource.lock = undefined
        this.#locks.delete(entry)
      },
      extend: async (ttlMs) => {
        owned().expires = Date.now() + lockTtl(ttlMs)
      },
    }
  }

  #registry(workerId: string): Map<string, string> {
    let registry = this.store.registries.get(workerId)
    if (registry === undefined) {
      registry = new Map()
      this.store.registries.set(workerId, registry)
    }
    return registry
  }

  #begin(): void {
    if (this.#closed) throw new ShardError('the shard is closed')
    this.#calls++
  }
}

function isModelUpdate(update: Update): update is import('@phonon/core').ModelUpdate {
  return 'model' in update && (update as { model: unknown }).model instanceof Model
}
