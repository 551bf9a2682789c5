import { randomUUID } from 'node:crypto'
import {
  ArgumentError,
  type Codec,
  checkId,
  LockNotOwned,
  Model,
  ShardError,
  type Update,
} from '@phonon/core'
import { ResourceError } from './errors.js'
import { lockTtl, withBackoff } from './Locks.js'
import { checkResource, splitToken, TypePlans } from './plan.js'
import {
  type Claim,
  executeClaim,
  type FoldResult,
  type Hold,
  type LockHandle,
  type LockOptions,
  type ReleaseItem,
  type ReleaseOptions,
  type ReleaseResult,
  type ResourceRef,
  type Shard,
  type ShardStats,
} from './Shard.js'

/** An execution claimed in a {@link MemoryStore}. */
interface Execution {
  readonly claim: Claim
  owner: string
  lease: number
  /** What claimed it: the token of a release, or `c:<epoch>` for the complete of that epoch. */
  readonly by: string
  /** The final step of the hold whose release claimed it (a release's claim only). */
  readonly step: number | undefined
}

/** One resource's shared state: what its Redis hash (see the README's data model) holds. */
interface Resource {
  /** Holder token → the last fold step applied under it. */
  readonly holders: Map<string, number>
  /** The pending state: a merged model update, or encoded custom updates. */
  pending: Update | undefined
  deltas: string[]
  mods: number
  exec: Execution | undefined
  lastEpoch: number
  forcedExpiry: boolean
  /**
   * Incarnation → the sequence of its last release that did not claim and that hold's final step
   * (retries and replayed folds are told apart).
   */
  readonly released: Map<string, { sequence: number; step: number | undefined }>
  /**
   * Hold token → the folds applied under it, for the holds recovery evicted (until released): a
   * replay of their log applies each fold and the release once.
   */
  readonly evicted: Map<string, number>
  lock: { token: string; expires: number; fence: number } | undefined
  lastFence: number
}

/**
 * The state several in-process workers share: the in-memory counterpart of a Redis server.
 * Create one and pass it to every {@link MemoryShard} that should see the same resources.
 */
export class MemoryStore {
  readonly resources = new Map<string, Resource>()
  /** Incarnation → its registry (resource id → type name), for recovery. */
  readonly registries = new Map<string, Map<string, string>>()
  #lastMicros = 0

  resource(resourceId: string): Resource {
    let resource = this.resources.get(resourceId)
    if (resource === undefined) {
      resource = {
        holders: new Map(),
        pending: undefined,
        deltas: [],
        mods: 0,
        exec: undefined,
        lastEpoch: 0,
        forcedExpiry: false,
        released: new Map(),
        evicted: new Map(),
        lock: undefined,
        lastFence: 0,
      }
      this.resources.set(resourceId, resource)
    }
    return resource
  }

  /** The store's clock in µs, strictly increasing (Redis' TIME, as epochs and fences use it). */
  micros(): number {
    this.#lastMicros = Math.max(this.#lastMicros + 1, Date.now() * 1000)
    return this.#lastMicros
  }
}

/** Options of a {@link MemoryShard}. */
export interface MemoryShardOptions {
  /** The update types this worker can fold and execute. */
  readonly codec: Codec
  /** The state shared with other in-process workers. Default: a store of its own. */
  readonly store?: MemoryStore
  /** This worker's name. Default: a random UUID. */
  readonly workerId?: string
  /** How long a claim is reserved for its owner (ms). Default 30,000. */
  readonly leaseMs?: number
  /** The largest delta one release may carry (bytes). Default 4 MiB. */
  readonly maxDeltaBytes?: number
  /**
   * Completing a claim that a release won records that release as released, as RedisShard's
   * option of the same name does (see there). Default false.
   */
  readonly rememberExecuted?: boolean
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
  readonly incarnation: string
  readonly store: MemoryStore
  readonly rememberExecuted: boolean
  /** Released records live as long as the store: never expire. */
  readonly retryWindowMs = Number.POSITIVE_INFINITY
  readonly #codec: Codec
  readonly #leaseMs: number
  readonly #execute: (claim: Claim) => Promise<void> | void
  readonly #types: TypePlans
  readonly #locks = new Set<{ resource: Resource; token: string }>()
  #sequence = 0
  #calls = 0
  #lost = 0
  #closed = false

  /** @throws {@link ArgumentError} for a malformed `workerId`. */
  constructor(options: MemoryShardOptions) {
    this.#codec = options.codec
    this.store = options.store ?? new MemoryStore()
    this.workerId = checkId(options.workerId ?? randomUUID(), 'workerId')
    this.incarnation = newIncarnation()
    this.#leaseMs = options.leaseMs ?? 30_000
    this.#types = new TypePlans(options.codec, options.maxDeltaBytes ?? 4 * 2 ** 20)
    this.#execute = options.execute ?? executeClaim
    this.rememberExecuted = options.rememberExecuted ?? false
  }

  newHold(target: Update | ResourceRef): Hold {
    return { ...this.#types.ref(target), token: `${this.incarnation}:${++this.#sequence}`, step: 0 }
  }

  async acquire(target: Update | ResourceRef | Hold): Promise<Hold> {
    return settled(await this.acquireMany([target]))
  }

  async acquireMany(
    targets: ReadonlyArray<Update | ResourceRef | Hold>,
  ): Promise<Array<Hold | ResourceError>> {
    this.#begin()
    const holds = targets.map((target) => holdOf(this, this.#types, target))
    for (const hold of holds) {
      this.#registry(this.incarnation).set(hold.resourceId, hold.typeName)
      const holders = this.store.resource(hold.resourceId).holders
      if (!holders.has(hold.token)) holders.set(hold.token, hold.step)
    }
    return holds
  }

  async fold(hold: Hold, delta: Update): Promise<FoldResult> {
    return settled(await this.foldMany([[hold, delta]]))
  }

  async foldMany(
    items: ReadonlyArray<readonly [Hold, Update]>,
  ): Promise<Array<FoldResult | ResourceError>> {
    this.#begin()
    for (const [hold, delta] of items) this.#check(hold, delta)
    return items.map(([hold, delta]) => {
      const resource = this.store.resource(hold.resourceId)
      const next = { ...hold, step: hold.step + 1 }
      const step = resource.holders.get(hold.token)
      if (step === undefined && resource.exec?.by === foldClaimTag(next))
        return { ...this.#foldResult(resource, next, true), claim: resource.exec.claim }
      const replayed = step === undefined ? replayedFold(resource, hold) : undefined
      if (replayed === undefined && resource.evicted.has(hold.token))
        return this.#evictedFold(resource, next, delta)
      if (replayed === false) {
        return new ResourceError(hold.resourceId, 'notHeld', 'fold past its released session')
      }
      // A replay of a fold applied before the hold's release or eviction: nothing changes.
      if (replayed) return this.#foldResult(resource, next, false)
      if (step !== undefined && step < hold.step) return outOfOrder(hold)
      // Applied only right after the fold before it; a retry (recorded step past it) is a no-op.
      if (step === undefined || step === hold.step) {
        this.#foldDelta(resource, delta)
        resource.holders.set(hold.token, next.step)
      }
      if (step === undefined) this.#lost++
      return this.#foldResult(resource, next, step === undefined)
    })
  }

  #foldResult(resource: Resource, hold: Hold, lost: boolean): FoldResult {
    return { hold, timesModified: resource.mods, forcedExpiry: resource.forcedExpiry, lost }
  }

  /**
   * The fold of a hold recovery evicted, in sequence after the folds applied under it: folded
   * without re-establishing the hold (nobody would release it), and the resource claimed when
   * left idle (as fold.lua).
   */
  #evictedFold(resource: Resource, next: Hold, delta: Update): FoldResult | ResourceError {
    if (next.step > (resource.evicted.get(next.token) as number) + 1) return outOfOrder(next)
    this.#lost++
    this.#foldDelta(resource, delta)
    resource.evicted.set(next.token, next.step)
    if (resource.holders.size > 0 || resource.exec || resource.mods === 0)
      return this.#foldResult(resource, next, true)
    const claim = this.#claim(next.resourceId, next.typeName, resource, foldClaimTag(next))
    return { ...this.#foldResult(resource, next, true), claim }
  }

  async release(hold: Hold, delta?: Update, options?: ReleaseOptions): Promise<ReleaseResult> {
    return settled(await this.releaseMany([options ? [hold, delta, options] : [hold, delta]]))
  }

  async releaseMany(
    items: ReadonlyArray<ReleaseItem>,
  ): Promise<Array<ReleaseResult | ResourceError>> {
    this.#begin()
    for (const [hold, delta] of items) this.#check(hold, delta)
    return items.map(([hold, delta, options]) => this.#releaseOne(hold, delta, options))
  }

  #releaseOne(
    hold: Hold,
    delta: Update | undefined,
    options?: ReleaseOptions,
  ): ReleaseResult | ResourceError {
    const resource = this.store.resource(hold.resourceId)
    // A release never overtakes a fold of its hold (one in doubt that has not arrived).
    const recorded = resource.holders.get(hold.token)
    if ((recorded ?? hold.step) < hold.step) return outOfOrder(hold)
    // The hold's final step, for replayed folds: the shard's (past the hold's when a fold's reply
    // was lost).
    const final = recorded ?? hold.step
    const held = resource.holders.delete(hold.token)
    if (!held) {
      // A retry of a release that went through: the same answer, nothing folded.
      if (resource.exec?.by === hold.token) return { last: true, claim: resource.exec.claim }
      // An evicted hold is released once every fold before it was applied.
      const evicted = resource.evicted.get(hold.token)
      if (evicted !== undefined && evicted < hold.step) return outOfOrder(hold)
      if (!resource.evicted.delete(hold.token) && isReleased(resource, hold.token))
        return { last: false, reason: 'released' }
      this.#lost++
    }
    this.#foldDelta(resource, delta)
    const lost = !held
    if (resource.exec) {
      const exec = resource.exec
      if (exec.lease < Date.now()) {
        // Its owner's lease ran out (stuck or dead): this release takes it over, same epoch.
        this.#markReleased(resource, exec.by, exec.step)
        exec.owner = this.incarnation
        exec.lease = Date.now() + this.#leaseMs
        this.#markReleased(resource, hold.token, final)
        this.#registry(this.incarnation).set(hold.resourceId, hold.typeName)
        return flagLost({ last: true, claim: exec.claim }, lost)
      }
      this.#markReleased(resource, hold.token, final)
      return flagLost({ last: false, reason: 'pending' }, lost)
    }
    if (resource.holders.size > 0 && !resource.forcedExpiry) {
      this.#markReleased(resource, hold.token, final)
      return flagLost({ last: false, reason: 'held' }, lost)
    }
    const empty = resource.mods === 0 && !(options?.claimEmpty && resource.holders.size === 0)
    if (empty) {
      this.#markReleased(resource, hold.token, final)
      return flagLost({ last: false, reason: resource.holders.size > 0 ? 'held' : 'empty' }, lost)
    }
    const claim = this.#claim(hold.resourceId, hold.typeName, resource, hold.token, final)
    return flagLost({ last: true, claim }, lost)
  }

  async completeExecution(claim: Claim): Promise<Claim | undefined> {
    return settled(await this.completeMany([claim]))
  }

  async completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined | ResourceError>> {
    this.#begin()
    for (const claim of claims) this.#types.ofClaim(claim)
    return claims.map((claim) => {
      const resource = this.store.resource(claim.resourceId)
      const by = `c:${claim.epoch}`
      if (resource.exec?.claim.epoch !== claim.epoch) {
        // Completed already; when that complete claimed the next state, hand it out again.
        return resource.exec?.by === by ? resource.exec.claim : undefined
      }
      const done = resource.exec
      if (this.rememberExecuted && done.step !== undefined)
        this.#markReleased(resource, done.by, done.step)
      resource.exec = undefined
      const next =
        resource.mods > 0 && (resource.holders.size === 0 || resource.forcedExpiry)
          ? this.#claim(claim.resourceId, claim.typeName, resource, by)
          : undefined
      this.#forgetIdle(claim.resourceId, resource)
      return next
    })
  }

  async count(resourceId: string): Promise<number> {
    this.#begin()
    checkResource(resourceId)
    return this.store.resources.get(resourceId)?.holders.size ?? 0
  }

  async timesModified(resourceId: string): Promise<number> {
    this.#begin()
    checkResource(resourceId)
    return this.store.resources.get(resourceId)?.mods ?? 0
  }

  async forceExpiry(resourceId: string): Promise<void> {
    this.#begin()
    checkResource(resourceId)
    const resource = this.store.resources.get(resourceId)
    // An idle resource has nothing to expire (and Redis keeps no key for it).
    if (resource && (resource.holders.size > 0 || resource.mods > 0 || resource.exec))
      resource.forcedExpiry = true
  }

  async lock(resourceId: string, options: LockOptions = {}): Promise<LockHandle> {
    this.#begin()
    checkId(resourceId, 'lock id')
    const resource = this.store.resource(resourceId)
    const ttl = lockTtl(options.ttlMs)
    const token = `${this.incarnation}:lock:${++this.#sequence}`
    return withBackoff(resourceId, options, async () => {
      const now = Date.now()
      if (resource.lock !== undefined && resource.lock.expires > now) return undefined
      const fence = Math.max(resource.lastFence + 1, this.store.micros())
      resource.lastFence = fence
      resource.lock = { token, expires: now + ttl, fence }
      const entry = { resource, token }
      this.#locks.add(entry)
      return this.#lockHandle(resourceId, entry, fence)
    })
  }

  /**
   * Recovers a dead incarnation: removes its holds, takes over what it was executing, executes
   * what it was the last holder of. Returns whether there was anything of it to recover.
   */
  async recover(deadIncarnation: string): Promise<boolean> {
    this.#begin()
    const registry = this.store.registries.get(deadIncarnation)
    if (registry === undefined) return false
    const prefix = `${deadIncarnation}:`
    let watched = false
    for (const [resourceId, typeName] of registry) {
      const resource = this.store.resource(resourceId)
      for (const [token, step] of resource.holders)
        if (token.startsWith(prefix)) {
          resource.holders.delete(token)
          resource.evicted.set(token, step) // its log's replay applies by it, once
        }
      let claim: Claim | undefined
      if (resource.exec) {
        if (resource.exec.owner !== deadIncarnation && resource.exec.lease >= Date.now()) {
          watched = true // a live owner's claim: looked at again once its lease ran out
          continue
        }
        this.#markReleased(resource, resource.exec.by, resource.exec.step)
        resource.exec.owner = this.incarnation
        resource.exec.lease = Date.now() + this.#leaseMs
        claim = resource.exec.claim
      } else if (resource.holders.size === 0 && resource.mods > 0) {
        claim = this.#claim(resourceId, typeName, resource, '')
      }
      while (claim) {
        this.#registry(this.incarnation).set(resourceId, typeName)
        await this.#execute(claim)
        claim = await this.completeExecution(claim)
      }
      registry.delete(resourceId)
    }
    if (!watched) this.store.registries.delete(deadIncarnation)
    return true
  }

  stats(): ShardStats {
    return { roundTrips: this.#calls, scripts: this.#calls, shardStateLost: this.#lost }
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

  /**
   * @throws {@link ArgumentError} for a malformed hold, or a delta of another type or resource
   * than the hold's.
   */
  #check(hold: Hold, delta: Update | undefined): void {
    this.#types.ofHold(hold).deltaArgs(delta, hold.resourceId)
  }

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

  /**
   * Records a release that did not claim (its hold at `step`), so that its retry and a replay of
   * its folds are told from a lost hold.
   */
  #markReleased(resource: Resource, token: string, step: number | undefined): void {
    if (step === undefined) return // a claim of a complete, fold or recovery: not a release
    const [incarnation, sequence] = splitToken(token)
    if (sequence > (resource.released.get(incarnation)?.sequence ?? 0))
      resource.released.set(incarnation, { sequence, step })
  }

  /** Moves the pending state into a claimed execution under a new epoch. */
  #claim(
    resourceId: string,
    typeName: string,
    resource: Resource,
    by: string,
    step?: number,
  ): Claim {
    const epoch = Math.max(resource.lastEpoch + 1, this.store.micros())
    resource.lastEpoch = epoch
    const plan = this.#types.plan(typeName)
    // A model's empty state has no totals; a custom update's is its (maybe empty) deltas list.
    const update =
      resource.pending ?? plan.claimed(resourceId, plan.spec === '*' ? [resource.deltas] : [])
    const claim = { resourceId, typeName, epoch, update }
    resource.exec = { claim, owner: this.incarnation, lease: Date.now() + this.#leaseMs, by, step }
    resource.pending = undefined
    resource.deltas = []
    resource.mods = 0
    resource.forcedExpiry = false
    this.#registry(this.incarnation).set(resourceId, typeName)
    return claim
  }

  /** Drops the resource from this incarnation's registry when it holds and executes none of it. */
  #forgetIdle(resourceId: string, resource: Resource): void {
    const mine = `${this.incarnation}:`
    if (
      [...resource.holders.keys()].some((h) => h.startsWith(mine)) ||
      resource.exec?.owner === this.incarnation
    )
      return
    this.store.registries.get(this.incarnation)?.delete(resourceId)
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

/** A unique incarnation id: 10 random characters of `[0-9a-z]` (no `:`, no braces). */
export function newIncarnation(): string {
  return randomUUID().replaceAll('-', '').slice(0, 10)
}

/** A release result, flagged `lost` only when it was (results compare equal otherwise). */
function flagLost(result: ReleaseResult, lost: boolean): ReleaseResult {
  return lost ? { ...result, lost } : result
}

/** A fold or release sent ahead of a fold of its hold that has not arrived: nothing changed. */
function outOfOrder(hold: Hold): ResourceError {
  return new ResourceError(
    hold.resourceId,
    'outOfOrder',
    'a fold of this hold before it is missing',
  )
}

/** What claims a resource by a fold of an evicted hold (`next`: the hold after it). */
function foldClaimTag(next: Hold): string {
  return `f:${next.token}:${next.step}`
}

/** Whether the session of `token` was released already (and did not claim). */
function isReleased(resource: Resource, token: string): boolean {
  const [incarnation, sequence] = splitToken(token)
  return (resource.released.get(incarnation)?.sequence ?? 0) >= sequence
}

/**
 * A fold of a hold the resource does not hold: `true` when it replays a fold applied before the
 * hold's release or eviction (its step at most the hold's final or evicted step, or a later hold
 * of its incarnation was released since: releases of a resource are sequential per incarnation),
 * `false` when it is past the final step, `undefined` when no release of the hold is known (a
 * lost hold, or an evicted one's next fold).
 */
function replayedFold(resource: Resource, hold: Hold): boolean | undefined {
  const step = hold.step + 1
  if (resource.exec?.by === hold.token) return step <= (resource.exec.step ?? -1)
  const evicted = resource.evicted.get(hold.token)
  if (evicted !== undefined) return step <= evicted || undefined
  const [incarnation, sequence] = splitToken(hold.token)
  const record = resource.released.get(incarnation)
  if (record === undefined || record.sequence < sequence) return undefined
  return record.sequence > sequence || step <= (record.step ?? -1)
}

/**
 * The hold of an acquire target: the hold itself (a retry), or a new one.
 * @throws {@link ArgumentError} for a malformed hold.
 */
export function holdOf(shard: Shard, types: TypePlans, target: Update | ResourceRef | Hold): Hold {
  if (!('token' in target)) return shard.newHold(target)
  types.ofHold(target)
  return target
}

/** The one result of a batch of one: the value, or its per-resource error thrown. */
export function settled<T>(results: ReadonlyArray<T | ResourceError>): T {
  const result = results[0] as T | ResourceError
  if (result instanceof ResourceError) throw result
  return result
}

function isModelUpdate(update: Update): update is import('@phonon/core').ModelUpdate {
  return 'model' in update && (update as { model: unknown }).model instanceof Model
}
