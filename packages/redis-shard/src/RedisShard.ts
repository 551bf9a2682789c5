/// <reference path="./cluster-key-slot.d.ts" />
import { randomUUID } from 'node:crypto'
import {
  ArgumentError,
  type Codec,
  checkId,
  type RedisReply,
  ShardError,
  type Update,
} from '@phonon/core'
import calculateSlot from 'cluster-key-slot'
import type { Cluster, Redis } from 'ioredis'
import { ReplicaTimeout, ResourceError } from './errors.js'
import { registryKey, resourceKey, resourceKeys, resourceSubkey } from './keys.js'
import { RedisLocks } from './Locks.js'
import { holdOf, newIncarnation, settled } from './MemoryShard.js'
import { checkResource, TypePlans } from './plan.js'
import { Reply } from './protocol.js'
import { Recovery } from './Recovery.js'
import type { Router } from './Routing.js'
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
import {
  type BatchHeader,
  type BatchScript,
  batchCall,
  type Client,
  callAcquire,
  callBatch,
  callScript,
  MAX_CALL_ARGS,
  registerScripts,
  type Segment,
  segmentSize,
} from './scripts.js'

/** Options of a {@link RedisShard}. */
export interface RedisShardOptions {
  /** Where each resource's keys live. */
  readonly router: Router
  /** The update types this worker can fold, execute and recover, by name. */
  readonly codec: Codec
  /** The key namespace (the `ns` of `{ns:R}`). Default `'phonon'`. */
  readonly namespace?: string
  /**
   * This worker's name (e.g. its pod name). Each process start is a new incarnation of it; a new
   * incarnation recovers the older ones of its name at once. Default: a random UUID.
   */
  readonly workerId?: string
  /** How often the heartbeat runs (ms); 0 disables it. Default 1,000. */
  readonly heartbeatMs?: number
  /** An incarnation whose heartbeat is older than this is dead and recovered (ms). Default 10,000. */
  readonly deadAfterMs?: number
  /** How long a claimed execution is reserved for its owner (ms). Default 30,000. */
  readonly leaseMs?: number
  /**
   * How long the record of a release that did not claim outlives the resource's last release
   * (ms): a retry of that release arriving later would fold its delta again. Default 600,000.
   */
  readonly retryWindowMs?: number
  /**
   * Completing a claim that a release won (by its owner, by recovery of a dead incarnation or
   * after a takeover) records that release as released, for `retryWindowMs`, as a release that
   * did not claim is recorded: a release replayed after its claim was executed and completed,
   * and its replayed folds, then answer `released` / applied (nothing folded, no new claim, not
   * `lost`) instead of counting again. For callers that replay whole logged rounds of folds and
   * releases (`@phonon/streams`' `phononSource` requires it). Costs one key (`{ns:R}:r`) per
   * executed resource, kept `retryWindowMs`, and two commands more in each complete's script.
   * Default false: a release replayed after its claim was completed is a late release of an
   * unknown hold (`lost: true`, folded and claimed again).
   */
  readonly rememberExecuted?: boolean
  /** The largest delta one release may carry (bytes). Default 4 MiB. */
  readonly maxDeltaBytes?: number
  /** Replicas that must acknowledge each batch of releases (`WAIT`); 0 skips it. Default 0. */
  readonly waitReplicas?: number
  /** How long `WAIT` may take (ms), never more: then {@link ReplicaTimeout}. Default 1,000. */
  readonly waitTimeoutMs?: number
  /** Executes claims found by recovery. Default: `claim.update.execute(claim)`. */
  readonly execute?: (claim: Claim) => Promise<void> | void
  /** Told of errors in the background (heartbeat, recovery, connections). Default: none. */
  readonly onError?: (error: unknown) => void
  /** Told of configuration risks found at connect. Default: `process.emitWarning`. */
  readonly onWarning?: (message: string) => void
}

/**
 * One operation of a batch: where it goes (its client and first key) and either a command to
 * queue as is (registry writes) or one resource's segment of a batch script.
 */
type Call =
  | {
      readonly client: Client
      readonly key: string
      readonly run: (target: object) => unknown
      /** The registry entries this write adds (resource → type): in doubt should its batch fail. */
      readonly adds?: ReadonlyMap<string, string>
    }
  | {
      readonly client: Client
      readonly key: string
      readonly script: BatchScript | 'acquire'
      readonly segment: Segment
    }

/** The most resources one script call serves; bounds the script's run time. */
const MAX_SEGMENTS = 256

/**
 * The shared tier on Redis: standalone nodes (consistent-hashed) or a Redis Cluster. Every
 * multi-step operation is one Lua script on the resource's node; batches are pipelined per node
 * and merged into one script call per node (per slot in a Cluster).
 */
export class RedisShard implements Shard {
  readonly workerId: string
  readonly namespace: string
  readonly router: Router
  readonly codec: Codec
  readonly leaseMs: number
  readonly retryWindowMs: number
  readonly rememberExecuted: boolean
  readonly #waitReplicas: number
  readonly #waitTimeoutMs: number
  readonly #types: TypePlans
  readonly #onError: (error: unknown) => void
  readonly #onWarning: (message: string) => void
  #incarnation = newIncarnation()
  /** The incarnations this process was before it renewed (their holds may still be open). */
  #lineage: string[] = []
  /** Open holds (token → resource) and sessions per resource, for the registry. */
  readonly #open = new Map<string, ResourceRef>()
  readonly #sessions = new Map<string, number>()
  readonly #claims = new Map<string, Claim>()
  /** Resources to remove from the registry with the next batch. */
  readonly #idle = new Set<string>()
  /**
   * Resources held whose registry entry is in doubt (resource → type): the batch that carried
   * its write failed, so it may not have run; written again with the next batch.
   */
  readonly #unregistered = new Map<string, string>()
  readonly #locks = new RedisLocks(() => {
    this.#roundTrips++
    this.#scripts++
  })
  readonly recovery: Recovery
  #sequence = 0
  #roundTrips = 0
  #scripts = 0
  #lost = 0
  #closed = false

  /** @throws {@link ArgumentError} for invalid options. */
  constructor(options: RedisShardOptions) {
    this.router = options.router
    this.codec = options.codec
    this.namespace = options.namespace ?? 'phonon'
    this.workerId = checkId(options.workerId ?? randomUUID(), 'workerId')
    if (/[{}:]/.test(this.namespace)) {
      throw new ArgumentError('namespace must not contain braces or colons')
    }
    this.leaseMs = positive(options.leaseMs ?? 30_000, 'leaseMs')
    this.retryWindowMs = positive(options.retryWindowMs ?? 600_000, 'retryWindowMs')
    this.rememberExecuted = options.rememberExecuted ?? false
    this.#types = new TypePlans(
      options.codec,
      positive(options.maxDeltaBytes ?? 4 * 2 ** 20, 'maxDeltaBytes'),
    )
    this.#waitReplicas = options.waitReplicas ?? 0
    this.#waitTimeoutMs = positive(options.waitTimeoutMs ?? 1_000, 'waitTimeoutMs')
    this.#onError = options.onError ?? (() => {})
    this.#onWarning =
      options.onWarning ?? ((message) => process.emitWarning(message, 'PhononWarning'))
    for (const client of this.router.clients) {
      registerScripts(client)
      // Without a listener ioredis prints `Unhandled error event` for every failed reconnect.
      client.on('error', (error: unknown) => this.#onError(error))
    }
    this.recovery = new Recovery(this, {
      heartbeatMs: options.heartbeatMs ?? 1_000,
      deadAfterMs: positive(options.deadAfterMs ?? 10_000, 'deadAfterMs'),
      execute: options.execute ?? executeClaim,
      onError: this.#onError,
    })
  }

  /** This process start's id: the prefix of its hold tokens (renewed after a long pause). */
  get incarnation(): string {
    return this.#incarnation
  }

  /** The incarnations this process renewed from, newest first. @internal */
  get lineage(): readonly string[] {
    return this.#lineage
  }

  /**
   * Checks each server and starts the heartbeat; `connect()` calls it.
   * @throws {@link ShardError} (with the cause) when a server cannot be reached or is older than
   * Redis 7.
   */
  async start(): Promise<this> {
    try {
      await Promise.all(this.router.clients.map((client) => this.#check(client)))
      await this.recovery.start()
    } catch (error) {
      if (error instanceof ShardError) throw error
      throw new ShardError(`cannot start the shard: ${describe(error)}`, { cause: error })
    }
    return this
  }

  /**
   * Redis ≥ 7 (scripts with flags: an out-of-memory server refuses a whole script), and
   * `maxmemory-policy noeviction`: an evicting server silently drops holders and pending state.
   */
  async #check(client: Client): Promise<void> {
    const info = await client.info('server')
    const version = /redis_version:(\d+)/.exec(info)?.[1]
    if (version !== undefined && Number(version) < 7) {
      throw new ShardError(`Redis ${version} is too old: phonon needs Redis 7 or later`)
    }
    const policy = (await client.config('GET', 'maxmemory-policy').catch(() => [])) as string[]
    if (policy[1] !== undefined && policy[1] !== 'noeviction') {
      this.#onWarning(
        `Redis maxmemory-policy is ${policy[1]}: set maxmemory-policy noeviction, or Redis may evict holders and pending state under memory pressure (lost deltas)`,
      )
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions

  newHold(target: Update | ResourceRef): Hold {
    return {
      ...this.#types.ref(target),
      token: `${this.#incarnation}:${++this.#sequence}`,
      step: 0,
    }
  }

  async acquire(target: Update | ResourceRef | Hold): Promise<Hold> {
    return settled(await this.acquireMany([target]))
  }

  async acquireMany(
    targets: ReadonlyArray<Update | ResourceRef | Hold>,
  ): Promise<Array<Hold | ResourceError>> {
    this.#assertOpen()
    const holds = targets.map((target) => holdOf(this, this.#types, target))
    // The registry before the holds: a worker that dies after acquiring must be found by
    // recovery. A crash in between leaves a stale entry: recovery finds nothing there.
    const registry = this.#registryCalls(holds)
    for (const hold of holds) this.#opened(hold)
    const acquires = holds.map((hold) =>
      this.#script('acquire', hold.resourceId, [resourceKey(this.namespace, hold.resourceId)], '', [
        hold.token,
      ]),
    )
    const registryNode = registry[0] && this.#nodeOf(registry[0])
    let replies: unknown[]
    if (registry.length > 0 && acquires.some((call) => this.#nodeOf(call) !== registryNode)) {
      await this.#batch(registry)
      replies = await this.#batch(acquires)
    } else replies = (await this.#batch([...registry, ...acquires])).slice(registry.length)
    return holds.map((hold, i) => {
      if (replies[i] === Reply.OK) return hold
      this.#closed_(hold)
      return resourceError(hold.resourceId, replies[i])
    })
  }

  async fold(hold: Hold, delta: Update): Promise<FoldResult> {
    return settled(await this.foldMany([[hold, delta]]))
  }

  async foldMany(
    items: ReadonlyArray<readonly [Hold, Update]>,
  ): Promise<Array<FoldResult | ResourceError>> {
    this.#assertOpen()
    const calls = items.map(([hold, delta]) => {
      const plan = this.#types.ofHold(hold)
      const args = [hold.token, String(hold.step + 1), ...plan.deltaArgs(delta, hold.resourceId)]
      const keys = resourceKeys(this.namespace, hold.resourceId, plan.extraKeys, true)
      return this.#script('fold', hold.resourceId, keys, plan.spec, args)
    })
    const holds = items.map(([hold]) => hold)
    const registry = this.#registryCalls(this.#foreign(holds))
    const replies = (await this.#batch([...registry, ...calls])).slice(registry.length)
    const results = replies.map((reply, i): FoldResult | ResourceError => {
      const hold = holds[i] as Hold
      const [code, lost, mods, forced] = reply as number[]
      const next = { ...hold, step: hold.step + 1 }
      if (lost === 1) this.#lost++
      if (code === Reply.CLAIMED) {
        const claim = this.readClaim(hold.resourceId, hold.typeName, reply as RedisReply[]) as Claim
        this.#claims.set(hold.resourceId, claim)
        return { hold: next, timesModified: 0, forcedExpiry: false, lost: true, claim }
      }
      if (code !== Reply.FOLDED) return resourceError(hold.resourceId, code)
      return {
        hold: next,
        timesModified: Number(mods),
        forcedExpiry: forced === 1,
        lost: lost === 1,
      }
    })
    this.#markIdle(holds.map((hold) => hold.resourceId))
    return results
  }

  /**
   * The resources of holds this worker did not acquire (a replayed log's): registered before
   * their fold or release, which may leave this worker owning a claim of them.
   */
  #foreign(holds: readonly Hold[]): ResourceRef[] {
    return holds.filter((hold) => !this.#open.has(hold.token))
  }

  async release(hold: Hold, delta?: Update, options?: ReleaseOptions): Promise<ReleaseResult> {
    return settled(await this.releaseMany([options ? [hold, delta, options] : [hold, delta]]))
  }

  async releaseMany(
    items: ReadonlyArray<ReleaseItem>,
  ): Promise<Array<ReleaseResult | ResourceError>> {
    this.#assertOpen()
    // Every delta is validated before anything is sent.
    const calls = items.map((item) => {
      const { keys, spec, args } = this.#releaseSegment(item)
      return this.#script('release', item[0].resourceId, keys, spec, args)
    })
    const registry = this.#registryCalls(this.#foreign(items.map(([hold]) => hold)))
    const replies = (await this.#batch([...registry, ...calls])).slice(registry.length)
    await this.#waitForReplicas(calls)
    const results = replies.map((reply, i) =>
      this.#released((items[i] as ReleaseItem)[0], reply as RedisReply[]),
    )
    this.#markIdle(items.map(([hold]) => hold.resourceId))
    return results
  }

  /**
   * The release script's KEYS and ARGV for `items` in one call, exactly as `releaseMany` sends
   * them to a node (its registry writes aside): for tooling and benchmarks that run
   * `scriptSource('release.lua')` by hand. Sends nothing.
   * @throws {@link ArgumentError} as `releaseMany` does.
   */
  releaseCall(items: ReadonlyArray<ReleaseItem>): { keys: string[]; args: string[] } {
    return batchCall(
      this.#header(),
      items.map((item) => this.#releaseSegment(item)),
    )
  }

  /** One release's part of a release call. @throws {@link ArgumentError} for bad input. */
  #releaseSegment([hold, delta, options]: ReleaseItem): Segment {
    const plan = this.#types.ofHold(hold)
    return {
      keys: resourceKeys(this.namespace, hold.resourceId, plan.extraKeys, true),
      spec: plan.spec,
      args: [
        hold.token,
        String(hold.step),
        options?.claimEmpty ? '1' : '',
        ...plan.deltaArgs(delta, hold.resourceId),
      ],
    }
  }

  /** The arguments every resource of a batch call shares. */
  #header(): BatchHeader {
    return {
      leaseMs: this.leaseMs,
      incarnation: this.#incarnation,
      retryWindowMs: this.retryWindowMs,
    }
  }

  async completeExecution(claim: Claim): Promise<Claim | undefined> {
    return settled(await this.completeMany([claim]))
  }

  async completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined | ResourceError>> {
    this.#assertOpen()
    const calls = claims.map((claim) => {
      const plan = this.#types.ofClaim(claim)
      const keys = resourceKeys(this.namespace, claim.resourceId, plan.extraKeys, true)
      const args = [String(claim.epoch), this.rememberExecuted ? '1' : '']
      return this.#script('complete', claim.resourceId, keys, plan.spec, args)
    })
    const registry = this.#registryCalls([])
    const replies = (await this.#batch([...registry, ...calls])).slice(registry.length)
    return claims.map((claim, i) => {
      const reply = replies[i] as RedisReply[]
      if ((reply[0] as number) < 0) return resourceError(claim.resourceId, reply[0])
      this.#claims.delete(claim.resourceId)
      const next = this.readClaim(claim.resourceId, claim.typeName, reply)
      if (next) this.#claims.set(next.resourceId, next)
      else this.#markIdle([claim.resourceId])
      return next
    })
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  async count(resourceId: string): Promise<number> {
    this.#roundTrips++
    const key = resourceKey(this.namespace, checkResource(resourceId))
    return Number((await this.#client(resourceId).hget(key, 'n')) ?? 0)
  }

  async timesModified(resourceId: string): Promise<number> {
    this.#roundTrips++
    const key = resourceKey(this.namespace, checkResource(resourceId))
    return Number((await this.#client(resourceId).hget(key, 'm')) ?? 0)
  }

  async forceExpiry(resourceId: string): Promise<void> {
    this.#roundTrips++
    this.#scripts++
    const key = resourceKey(this.namespace, checkResource(resourceId))
    await callScript(this.#client(resourceId), 'expire', [key], [])
  }

  // ---------------------------------------------------------------------------------------------
  // Locks

  async lock(resourceId: string, options: LockOptions = {}): Promise<LockHandle> {
    this.#assertOpen()
    checkId(resourceId, 'lock id')
    const keys: [string, string] = [
      resourceSubkey(this.namespace, resourceId, 'lock'),
      resourceSubkey(this.namespace, resourceId, 'fence'),
    ]
    const token = `${this.#incarnation}:lock:${++this.#sequence}`
    return this.#locks.take(this.#client(resourceId), resourceId, keys, token, options)
  }

  // ---------------------------------------------------------------------------------------------
  // Life cycle

  stats(): ShardStats {
    return { roundTrips: this.#roundTrips, scripts: this.#scripts, shardStateLost: this.#lost }
  }

  /**
   * Stops the heartbeat, releases this worker's locks and, when it holds no session and no claim,
   * removes its heartbeat and registry; otherwise leaves them, so that other workers recover what
   * it still holds once the heartbeat is old. Then closes the connections.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.recovery.stop()
    await this.#locks.releaseAll()
    await this.#register([]).catch(() => {})
    if (this.#open.size === 0 && this.#claims.size === 0) {
      await this.recovery.forget(this.#incarnation).catch(() => {})
    }
    await this.recovery.sweep(this.#lineage).catch(() => {})
    await Promise.allSettled(this.router.clients.map((client) => client.quit()))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---------------------------------------------------------------------------------------------
  // Internals shared with Recovery

  /**
   * Becomes a new incarnation (this one's heartbeat went stale: others recover it) and
   * re-registers every open session and claim under it, so that a later death of this process
   * is recovered too. @internal
   */
  async renew(): Promise<void> {
    this.#lineage = [this.#incarnation, ...this.#lineage]
    this.#incarnation = newIncarnation()
    const refs = new Map<string, ResourceRef>()
    for (const ref of [...this.#open.values(), ...this.#claims.values()])
      refs.set(ref.resourceId, ref)
    const { client, key } = this.registryOf(this.#incarnation)
    const fields = [...refs.values()].flatMap((ref) => [ref.resourceId, ref.typeName])
    if (fields.length === 0) return
    try {
      await client.hset(key, ...fields)
    } catch (error) {
      // Written again with the next batch (see #unregistered).
      for (const ref of refs.values()) this.#unregistered.set(ref.resourceId, ref.typeName)
      throw error
    }
  }

  /** The client and key of an incarnation's registry. @internal */
  registryOf(incarnation: string): { client: Client; key: string } {
    return {
      client: this.router.clientFor(`${this.namespace}:i:${incarnation}`),
      key: registryKey(this.namespace, incarnation),
    }
  }

  /** The client of the heartbeats. @internal */
  workersClient(): Client {
    return this.router.clientFor(this.namespace)
  }

  /**
   * Evicts dead incarnations from resources (one script call per node and batch) and returns,
   * per resource, the claim this worker must now execute and complete, `'pending'` when a live
   * owner's claim holds a valid lease (look again later), or undefined. @internal
   */
  async evictMany(
    dead: readonly string[],
    refs: readonly ResourceRef[],
  ): Promise<Array<Claim | 'pending' | undefined>> {
    await this.#register(refs)
    const calls = refs.map(({ resourceId, typeName }) => {
      const plan = this.#types.plan(typeName)
      const keys = resourceKeys(this.namespace, resourceId, plan.extraKeys, true)
      return this.#script('evict', resourceId, keys, plan.spec, [dead.join(' ')])
    })
    const replies = await this.#batch(calls)
    return refs.map(({ resourceId, typeName }, i) => {
      const reply = replies[i] as RedisReply[]
      const claim = this.readClaim(resourceId, typeName, reply)
      if (claim) this.#claims.set(resourceId, claim)
      else this.#markIdle([resourceId])
      return claim ?? (reply[0] === Reply.PENDING ? 'pending' : undefined)
    })
  }

  /** Removes from this worker's registry the resources it no longer holds or executes, now. @internal */
  async unregisterIdle(resourceIds: readonly string[]): Promise<void> {
    this.#markIdle(resourceIds)
    await this.#register([])
  }

  /** A claim from a script reply `{CLAIMED, lost, epoch, totals.., deltas}`, else undefined. @internal */
  readClaim(resourceId: string, typeName: string, reply: RedisReply[]): Claim | undefined {
    if (reply[0] !== Reply.CLAIMED) return undefined
    const update = this.#types.plan(typeName).claimed(resourceId, reply.slice(3))
    return { resourceId, typeName, epoch: Number(reply[2]), update }
  }

  // ---------------------------------------------------------------------------------------------

  #released(hold: Hold, reply: RedisReply[]): ReleaseResult | ResourceError {
    const code = reply[0] as number
    if (code < 0) return resourceError(hold.resourceId, code)
    this.#closed_(hold)
    const lost = reply[1] === 1
    if (lost) this.#lost++
    const flag = lost ? { lost } : {}
    const claim = this.readClaim(hold.resourceId, hold.typeName, reply)
    if (claim) {
      this.#claims.set(claim.resourceId, claim)
      return { last: true, claim, ...flag }
    }
    const reason =
      code === Reply.RELEASED
        ? 'released'
        : code === Reply.HELD
          ? 'held'
          : code === Reply.PENDING
            ? 'pending'
            : 'empty'
    return { last: false, reason, ...flag }
  }

  #opened(hold: Hold): void {
    if (this.#open.has(hold.token)) return
    this.#open.set(hold.token, hold)
    this.#sessions.set(hold.resourceId, (this.#sessions.get(hold.resourceId) ?? 0) + 1)
  }

  #closed_(hold: Hold): void {
    if (!this.#open.delete(hold.token)) return
    const sessions = (this.#sessions.get(hold.resourceId) ?? 1) - 1
    if (sessions > 0) this.#sessions.set(hold.resourceId, sessions)
    else this.#sessions.delete(hold.resourceId)
  }

  /** The client of a resource's node. */
  #client(resourceId: string): Client {
    return this.router.clientFor(`${this.namespace}:${resourceId}`)
  }

  #script(
    script: BatchScript | 'acquire',
    resourceId: string,
    keys: readonly string[],
    spec: string,
    args: readonly string[],
  ): Call {
    return {
      client: this.#client(resourceId),
      key: keys[0] as string,
      script,
      segment: { keys, spec, args },
    }
  }

  /**
   * Runs operations with one pipeline per node: its commands first, in order, then its script
   * segments, merged into as few script calls as they allow (one per script and node, or per
   * script and slot in a Cluster, up to MAX_SEGMENTS resources and MAX_CALL_ARGS arguments
   * each). Returns the replies in order.
   */
  async #batch(calls: readonly Call[]): Promise<unknown[]> {
    try {
      return await this.#send(calls)
    } catch (error) {
      // A registry write may not have run: the holds it registers are acquired again with the
      // same token (idempotent), and must not be left out of the registry (recovery would not
      // evict them when this worker dies).
      for (const call of calls)
        if ('adds' in call && call.adds)
          for (const [resourceId, typeName] of call.adds)
            this.#unregistered.set(resourceId, typeName)
      throw error
    }
  }

  /** {@link RedisShard.#batch}, without the bookkeeping of a failure. */
  async #send(calls: readonly Call[]): Promise<unknown[]> {
    const replies: unknown[] = new Array(calls.length)
    const nodes = new Map<unknown, number[]>()
    calls.forEach((call, i) => {
      const node = this.#nodeOf(call)
      const indices = nodes.get(node)
      if (indices) indices.push(i)
      else nodes.set(node, [i])
    })
    const header = this.#header()
    await Promise.all(
      [...nodes.values()].map(async (indices) => {
        const client = (calls[indices[0] as number] as Call).client
        const pipeline = client.pipeline()
        const queued: Array<{ members: number[]; single: boolean }> = []
        const groups = new Map<string, number[]>()
        for (const i of indices) {
          const call = calls[i] as Call
          if ('run' in call) {
            call.run(pipeline)
            queued.push({ members: [i], single: true })
            continue
          }
          const group = this.router.cluster
            ? `${call.script} ${calculateSlot(call.key)}`
            : call.script
          const members = groups.get(group)
          if (members) members.push(i)
          else groups.set(group, [i])
        }
        for (const members of groups.values()) {
          for (const chunk of chunks(members, (i) => segmentSize(segmentOf(calls[i])))) {
            const script = (calls[chunk[0] as number] as Call & { script: string }).script
            const segments = chunk.map((i) => segmentOf(calls[i]))
            if (script === 'acquire') {
              callAcquire(
                pipeline,
                segments.map((s) => s.keys[0] as string),
                segments.map((s) => s.args[0] as string),
              )
            } else callBatch(pipeline, script as BatchScript, header, segments)
            queued.push({ members: chunk, single: false })
          }
        }
        this.#roundTrips++
        this.#scripts += queued.filter((q) => !q.single).length
        const results = (await pipeline.exec()) ?? []
        queued.forEach(({ members, single }, j) => {
          const [error, result] = results[j] ?? [new ShardError('no reply'), undefined]
          if (error) throw new ShardError(`Redis failed: ${error.message}`, { cause: error })
          if (single) replies[members[0] as number] = result
          else for (const [k, i] of members.entries()) replies[i] = (result as unknown[])[k]
        })
      }),
    )
    return replies
  }

  /**
   * The node a call goes to: its client for standalone nodes; in a Cluster, the primary serving
   * its key's slot (a Cluster pipeline must stay on one node), or the key itself while the slot
   * map is not known yet.
   */
  #nodeOf(call: Call): unknown {
    if (!this.router.cluster) return call.client
    const owners = (call.client as Cluster).slots[calculateSlot(call.key)]
    return owners?.[0] ?? call.key
  }

  /**
   * The registry writes to send with the next batch: add the resources this worker starts to
   * hold (unless already there), and remove those it stopped holding since the last batch. A
   * stale entry costs recovery one no-op script, so removals wait for a batch to ride along.
   */
  #registryCalls(adds: readonly ResourceRef[]): Call[] {
    const fresh = new Map<string, string>()
    for (const ref of adds) {
      this.#idle.delete(ref.resourceId)
      if (!this.#sessions.has(ref.resourceId) && !this.#claims.has(ref.resourceId))
        fresh.set(ref.resourceId, ref.typeName)
    }
    for (const [resourceId, typeName] of this.#unregistered) {
      this.#idle.delete(resourceId)
      fresh.set(resourceId, typeName)
    }
    this.#unregistered.clear()
    const removed = [...this.#idle]
    this.#idle.clear()
    const { client, key } = this.registryOf(this.#incarnation)
    const calls: Call[] = []
    if (fresh.size > 0) {
      const fields = [...fresh].flat()
      calls.push({
        client,
        key,
        run: (target) => (target as Redis).hset(key, ...fields),
        adds: fresh,
      })
    }
    if (removed.length > 0)
      calls.push({ client, key, run: (target) => (target as Redis).hdel(key, ...removed) })
    return calls
  }

  /** Adds resources to this worker's registry now. */
  async #register(refs: readonly ResourceRef[]): Promise<void> {
    const calls = this.#registryCalls(refs)
    if (calls.length > 0) await this.#batch(calls)
  }

  /** Marks resources this worker no longer holds or executes, for removal from its registry. */
  #markIdle(resourceIds: readonly string[]): void {
    for (const id of resourceIds)
      if (!this.#sessions.has(id) && !this.#claims.has(id)) this.#idle.add(id)
  }

  /**
   * `WAIT` on every node written to, when replicas must acknowledge releases; never longer than
   * `waitTimeoutMs` (a connection stuck after a failover does not hold the release).
   * @throws {@link ReplicaTimeout} when fewer replicas acknowledged in time.
   */
  async #waitForReplicas(calls: readonly Call[]): Promise<void> {
    if (this.#waitReplicas <= 0 || calls.length === 0) return
    const connections = this.router.cluster
      ? this.#primariesOf(calls)
      : [...new Set(calls.map((call) => call.client as Redis))]
    const timeout = this.#waitTimeoutMs
    await Promise.all(
      connections.map(async (client) => {
        this.#roundTrips++
        let timer: ReturnType<typeof setTimeout> | undefined
        const late = new Promise<number>((resolve) => {
          timer = setTimeout(() => resolve(-1), timeout + 50)
        })
        const acked = await Promise.race([
          client.wait(this.#waitReplicas, timeout).catch(() => -1),
          late,
        ]).finally(() => clearTimeout(timer))
        if (acked < this.#waitReplicas) throw new ReplicaTimeout(this.#waitReplicas, acked, timeout)
      }),
    )
  }

  /** The Cluster connections to the primaries serving the calls' slots (all, if unknown). */
  #primariesOf(calls: readonly Call[]): Redis[] {
    const cluster = this.router.clients[0] as Cluster
    const primaries = cluster.nodes('master')
    const owners = new Set(calls.map((call) => this.#nodeOf(call)))
    const written = primaries.filter((node) =>
      owners.has(`${node.options.host}:${node.options.port}`),
    )
    return written.length === owners.size ? written : primaries
  }

  #assertOpen(): void {
    if (this.#closed) throw new ShardError('the shard is closed')
  }
}

function segmentOf(call: Call | undefined): Segment {
  return (call as Call & { segment: Segment }).segment
}

/** Splits indices into chunks of at most MAX_SEGMENTS items and MAX_CALL_ARGS arguments. */
function chunks(indices: readonly number[], size: (i: number) => number): number[][] {
  const out: number[][] = []
  let current: number[] = []
  let args = 0
  for (const i of indices) {
    const n = size(i)
    if (current.length > 0 && (current.length >= MAX_SEGMENTS || args + n > MAX_CALL_ARGS)) {
      out.push(current)
      current = []
      args = 0
    }
    current.push(i)
    args += n
  }
  if (current.length > 0) out.push(current)
  return out
}

function resourceError(resourceId: string, code: unknown): ResourceError {
  if (code === Reply.WRONG_TYPE)
    return new ResourceError(resourceId, 'wrongType', 'a key of the resource holds another type')
  if (code === Reply.OVERFLOW)
    return new ResourceError(
      resourceId,
      'overflow',
      'a field would overflow (64-bit integer or finite float)',
    )
  if (code === Reply.NOT_HELD)
    return new ResourceError(resourceId, 'notHeld', 'fold of a released session')
  if (code === Reply.OUT_OF_ORDER)
    return new ResourceError(resourceId, 'outOfOrder', 'a fold of this hold before it is missing')
  return new ResourceError(resourceId, 'notHeld', `unexpected reply ${String(code)}`)
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new ArgumentError(`${name} must be a positive number, got ${value}`)
  return value
}
