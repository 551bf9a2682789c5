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
import { ResourceError } from './errors.js'
import { registryKey, resourceKey, resourceKeys, workersKey } from './keys.js'
import { RedisLocks } from './Locks.js'
import { holdOf, settled } from './MemoryShard.js'
import { type TypePlan, TypePlans } from './plan.js'
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
  type BatchScript,
  type Client,
  callBatch,
  registerScripts,
  type Segment,
} from './scripts.js'

/** Options of a {@link RedisShard}. */
export interface RedisShardOptions {
  /** Where each resource's keys live. */
  readonly router: Router
  /** The update types this worker can fold, execute and recover, by name. */
  readonly codec: Codec
  /** The key namespace (the `ns` of `{ns:R}`). Default `'phonon'`. */
  readonly namespace?: string
  /** This worker's id. Default: a random UUID. */
  readonly workerId?: string
  /** How often the heartbeat runs (ms); 0 disables it. Default 1,000. */
  readonly heartbeatMs?: number
  /** A worker whose heartbeat is older than this is dead and recovered (ms). Default 10,000. */
  readonly deadAfterMs?: number
  /** How long a claimed execution is reserved for its owner (ms). Default 30,000. */
  readonly leaseMs?: number
  /** The largest delta one release may carry (bytes). Default 4 MiB. */
  readonly maxDeltaBytes?: number
  /** Replicas that must acknowledge each batch of releases (`WAIT`); 0 skips it. Default 0. */
  readonly waitReplicas?: number
  /** How long `WAIT` waits (ms). Default 1,000. */
  readonly waitTimeoutMs?: number
  /** Executes claims found by recovery. Default: `claim.update.execute(claim)`. */
  readonly execute?: (claim: Claim) => Promise<void> | void
  /** Told of errors in the background (heartbeat, recovery). Default: none. */
  readonly onError?: (error: unknown) => void
}

/**
 * One operation of a batch: where it goes (its client and first key) and either a command to
 * queue as is (registry writes) or one resource's segment of a batch script.
 */
type Call =
  | { readonly client: Client; readonly key: string; readonly run: (target: object) => unknown }
  | {
      readonly client: Client
      readonly key: string
      readonly script: BatchScript
      readonly segment: Segment
    }

/** The most resources one script call folds; bounds the script's run time. */
const MAX_SEGMENTS = 256

/**
 * The shared tier on Redis: standalone nodes (consistent-hashed) or a Redis Cluster. Every
 * multi-step operation is one Lua script on the resource's node; batches are pipelined per node.
 */
export class RedisShard implements Shard {
  #incarnation: string
  readonly namespace: string
  readonly router: Router
  readonly codec: Codec
  readonly leaseMs: number
  readonly #waitReplicas: number
  readonly #waitTimeoutMs: number
  readonly #types: TypePlans
  /** Open sessions per resource; a resource stays in the registry while it has any or a claim. */
  readonly #sessions = new Map<string, number>()
  readonly #claims = new Map<string, Claim>()
  /** Resources to remove from the registry with the next batch. */
  readonly #idle = new Set<string>()
  readonly #locks = new RedisLocks(() => {
    this.#roundTrips++
    this.#scripts++
  })
  readonly recovery: Recovery
  #sequence = 0
  #roundTrips = 0
  #scripts = 0
  #closed = false

  /** @throws {@link ArgumentError} for invalid options. */
  constructor(options: RedisShardOptions) {
    this.router = options.router
    this.codec = options.codec
    this.namespace = options.namespace ?? 'phonon'
    // Until incarnations land (issue 10), the worker id doubles as the incarnation.
    this.#incarnation = checkId(options.workerId ?? randomUUID(), 'workerId')
    this.leaseMs = positive(options.leaseMs ?? 30_000, 'leaseMs')
    this.#types = new TypePlans(
      options.codec,
      positive(options.maxDeltaBytes ?? 4 * 2 ** 20, 'maxDeltaBytes'),
    )
    this.#waitReplicas = options.waitReplicas ?? 0
    this.#waitTimeoutMs = options.waitTimeoutMs ?? 1_000
    if (this.#incarnation.includes(':') || /[{}]/.test(this.namespace)) {
      throw new ArgumentError('workerId must not contain :, namespace must not contain braces')
    }
    for (const client of this.router.clients) registerScripts(client)
    this.recovery = new Recovery(this, {
      heartbeatMs: options.heartbeatMs ?? 1_000,
      deadAfterMs: positive(options.deadAfterMs ?? 10_000, 'deadAfterMs'),
      execute: options.execute ?? executeClaim,
      onError: options.onError ?? (() => {}),
    })
  }

  /** This worker's id (it changes when the worker finds its own heartbeat stale). */
  get workerId(): string {
    return this.#incarnation
  }

  /** This process start's id: for now the worker id. */
  get incarnation(): string {
    return this.#incarnation
  }

  /** Starts the heartbeat; `connect()` calls it. */
  async start(): Promise<this> {
    await this.recovery.start()
    return this
  }

  // ---------------------------------------------------------------------------------------------
  // Sessions

  newHold(target: Update | ResourceRef): Hold {
    return { ...this.#types.ref(target), token: `${this.incarnation}:${++this.#sequence}`, step: 0 }
  }

  async acquire(target: Update | ResourceRef | Hold): Promise<Hold> {
    return settled(await this.acquireMany([target]))
  }

  async acquireMany(
    targets: ReadonlyArray<Update | ResourceRef | Hold>,
  ): Promise<Array<Hold | ResourceError>> {
    this.#assertOpen()
    const holds = targets.map((target) => holdOf(this, target))
    // The registry before the holds: a worker that dies after acquiring must be found by
    // recovery. When everything goes to one node, one pipeline keeps that order.
    const registry = this.#registryCalls(holds)
    for (const hold of holds)
      this.#sessions.set(hold.resourceId, (this.#sessions.get(hold.resourceId) ?? 0) + 1)
    const acquires = holds.map((hold) =>
      // Only the holders key: each key passed costs the script call time.
      this.#script(
        'acquire',
        hold.resourceId,
        [resourceKey(this.namespace, hold.resourceId, 'holders')],
        [hold.token],
      ),
    )
    const registryNode = registry[0] && this.#nodeOf(registry[0])
    if (registry.length > 0 && acquires.some((call) => this.#nodeOf(call) !== registryNode)) {
      await this.#batch(registry)
      await this.#batch(acquires)
    } else await this.#batch([...registry, ...acquires])
    return holds
  }

  async fold(hold: Hold, delta: Update): Promise<FoldResult> {
    return settled(await this.foldMany([[hold, delta]]))
  }

  async foldMany(
    items: ReadonlyArray<readonly [Hold, Update]>,
  ): Promise<Array<FoldResult | ResourceError>> {
    this.#assertOpen()
    const calls = items.map(([hold, delta]) => {
      const plan = this.#types.plan(hold.typeName)
      const args = [hold.token, ...plan.deltaArgs(delta, hold.resourceId)]
      return this.#script(
        'fold',
        hold.resourceId,
        this.#keys(hold.resourceId, plan.fieldNames),
        args,
      )
    })
    const replies = await this.#batch(calls)
    return replies.map((reply, i) => {
      const [code, forced] = reply as number[]
      const hold = (items[i] as readonly [Hold, Update])[0]
      if (code === -1)
        return new ResourceError(
          hold.resourceId,
          'notHeld',
          'fold by a session that does not hold it',
        )
      const next = { ...hold, step: hold.step + 1 }
      if (code === -3) return { hold: next, timesModified: 0, forcedExpiry: true, lost: true }
      return { hold: next, timesModified: Number(code), forcedExpiry: forced === 1, lost: false }
    })
  }

  async release(hold: Hold, delta?: Update, options?: ReleaseOptions): Promise<ReleaseResult> {
    return settled(await this.releaseMany([options ? [hold, delta, options] : [hold, delta]]))
  }

  async releaseMany(
    items: ReadonlyArray<ReleaseItem>,
  ): Promise<Array<ReleaseResult | ResourceError>> {
    this.#assertOpen()
    // Every delta is validated before anything is sent.
    const calls = items.map(([hold, delta]) => {
      const plan = this.#types.plan(hold.typeName)
      const args = [
        hold.token,
        this.incarnation,
        this.leaseMs,
        ...plan.deltaArgs(delta, hold.resourceId),
      ]
      return this.#script(
        'release',
        hold.resourceId,
        this.#keys(hold.resourceId, plan.fieldNames),
        args,
      )
    })
    const replies = (await this.#batch([...this.#registryCalls([]), ...calls])).slice(-calls.length)
    await this.#waitForReplicas(calls)
    const results = replies.map((reply, i) =>
      this.#released((items[i] as readonly [Hold, unknown])[0], reply),
    )
    this.#markIdle(items.map(([hold]) => hold.resourceId))
    return results
  }

  async completeExecution(claim: Claim): Promise<Claim | undefined> {
    return settled(await this.completeMany([claim]))
  }

  /**
   * Completes many claims, one round trip per node; returns for each the next claim (state that
   * accumulated meanwhile), if any.
   */
  async completeMany(claims: readonly Claim[]): Promise<Array<Claim | undefined | ResourceError>> {
    this.#assertOpen()
    const calls = claims.map((claim) => {
      const plan = this.#types.plan(claim.typeName)
      const args = [String(claim.epoch), this.incarnation, this.leaseMs, ...plan.readSpecs]
      return this.#script(
        'complete',
        claim.resourceId,
        this.#keys(claim.resourceId, plan.fieldNames),
        args,
      )
    })
    const replies = (await this.#batch([...this.#registryCalls([]), ...calls])).slice(-calls.length)
    return claims.map((claim, i) => {
      this.#claims.delete(claim.resourceId)
      const next = this.readClaim(claim.resourceId, claim.typeName, replies[i])
      if (next) this.#claims.set(next.resourceId, next)
      else this.#markIdle([claim.resourceId])
      return next
    })
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  async count(resourceId: string): Promise<number> {
    const client = this.#client(resourceId)
    this.#roundTrips++
    return client.hlen(resourceKey(this.namespace, resourceId, 'holders'))
  }

  async timesModified(resourceId: string): Promise<number> {
    const client = this.#client(resourceId)
    this.#roundTrips++
    return Number((await client.get(resourceKey(this.namespace, resourceId, 'mods'))) ?? 0)
  }

  async forceExpiry(resourceId: string): Promise<void> {
    const client = this.#client(resourceId)
    this.#roundTrips++
    await client.set(resourceKey(this.namespace, resourceId, 'expire'), '1', 'PX', 24 * 3600 * 1000)
  }

  // ---------------------------------------------------------------------------------------------
  // Locks

  lock(resourceId: string, options: LockOptions = {}): Promise<LockHandle> {
    this.#assertOpen()
    const keys: [string, string] = [
      resourceKey(this.namespace, resourceId, 'lock'),
      resourceKey(this.namespace, resourceId, 'fence'),
    ]
    const token = `${this.#incarnation}/lock/${++this.#sequence}`
    return this.#locks.take(this.#client(resourceId), resourceId, keys, token, options)
  }

  // ---------------------------------------------------------------------------------------------
  // Life cycle

  stats(): ShardStats {
    return { roundTrips: this.#roundTrips, scripts: this.#scripts, shardStateLost: 0 }
  }

  /**
   * Stops the heartbeat, releases this worker's locks and, when it holds no session and no claim,
   * removes its heartbeat and registry; otherwise leaves them, so that other workers recover what
   * it still holds once the heartbeat is old. Then closes the connections.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    await this.recovery.stop()
    await this.#locks.releaseAll()
    await this.#register([]).catch(() => {})
    if (this.#sessions.size === 0 && this.#claims.size === 0) {
      await Promise.allSettled([
        this.workerKeys(this.#incarnation).registry.client.del(
          registryKey(this.namespace, this.#incarnation),
        ),
        this.#workersClient().hdel(workersKey(this.namespace), this.#incarnation),
      ])
    }
    this.#closed = true
    await Promise.allSettled(this.router.clients.map((client) => client.quit()))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // ---------------------------------------------------------------------------------------------
  // Internals shared with Recovery

  /** Takes a new worker id (the seed's rule for a worker that finds its own heartbeat stale). @internal */
  renewWorkerId(): void {
    this.#incarnation = randomUUID()
  }

  /** The client holding the heartbeats. */
  #workersClient(): Client {
    return this.router.clientFor(this.namespace)
  }

  /** The heartbeat and worker-level keys' client and names, for Recovery. @internal */
  workerKeys(workerId: string) {
    return {
      workers: { client: this.#workersClient(), key: workersKey(this.namespace) },
      registry: {
        client: this.#client(`w:${workerId}`),
        key: registryKey(this.namespace, workerId),
      },
    }
  }

  /**
   * Evicts a dead worker from resources (one script call per node and batch) and returns, per
   * resource, the claim this worker must now execute and complete, if any. @internal
   */
  async evictMany(
    deadWorker: string,
    refs: readonly ResourceRef[],
  ): Promise<Array<Claim | undefined>> {
    await this.#register(refs)
    const calls = refs.map(({ resourceId, typeName }) => {
      const plan = this.#types.plan(typeName)
      const args = [deadWorker, this.incarnation, this.leaseMs, ...plan.readSpecs]
      return this.#script('evict', resourceId, this.#keys(resourceId, plan.fieldNames), args)
    })
    const replies = await this.#batch(calls)
    return refs.map(({ resourceId, typeName }, i) => {
      const claim = this.readClaim(resourceId, typeName, replies[i])
      if (claim) this.#claims.set(resourceId, claim)
      else this.#markIdle([resourceId])
      return claim
    })
  }

  /** The plan of an update type, by name. @throws {@link ArgumentError} for an unknown type. @internal */
  plan(typeName: string): TypePlan {
    return this.#types.plan(typeName)
  }

  /** The keys of a resource for the per-resource scripts. @internal */
  keys(resourceId: string, fieldNames: readonly string[]): string[] {
    return this.#keys(resourceId, fieldNames)
  }

  /** Adds resources to this worker's registry (before holding or claiming them). @internal */
  async register(refs: readonly ResourceRef[]): Promise<void> {
    await this.#register(refs)
  }

  /** A claim from a script reply (`{2, epoch, totals .., deltas}`), or undefined for other codes. @internal */
  readClaim(resourceId: string, typeName: string, reply: unknown): Claim | undefined {
    const parts = reply as RedisReply[]
    if (parts[0] !== 2) return undefined
    const update = this.#types.plan(typeName).claimed(resourceId, parts.slice(2))
    return { resourceId, typeName, epoch: Number(parts[1]), update }
  }

  // ---------------------------------------------------------------------------------------------

  #released(hold: Hold, reply: unknown): ReleaseResult {
    const sessions = (this.#sessions.get(hold.resourceId) ?? 1) - 1
    if (sessions > 0) this.#sessions.set(hold.resourceId, sessions)
    else this.#sessions.delete(hold.resourceId)
    const code = (reply as number[])[0]
    const claim = this.readClaim(hold.resourceId, hold.typeName, reply)
    if (claim) {
      this.#claims.set(claim.resourceId, claim)
      return { last: true, claim }
    }
    const reason = code === -1 ? 'released' : code === 0 ? 'held' : code === 1 ? 'pending' : 'empty'
    return { last: false, reason }
  }

  #keys(resourceId: string, fieldNames: readonly string[]): string[] {
    return resourceKeys(this.namespace, resourceId, fieldNames)
  }

  /** The client of a resource's node. */
  #client(resourceId: string): Client {
    return this.router.clientFor(`${this.namespace}:${resourceId}`)
  }

  #script(
    script: BatchScript,
    resourceId: string,
    keys: string[],
    args: Array<string | number>,
  ): Call {
    return {
      client: this.#client(resourceId),
      key: keys[0] as string,
      script,
      segment: { keys, args },
    }
  }

  /**
   * Runs operations with one pipeline per node: its commands first, in order, then its script
   * segments, merged into as few script calls as they allow (one per script and node, or per
   * script and slot in a Cluster, up to MAX_SEGMENTS each). Returns the replies in order.
   */
  async #batch(calls: readonly Call[]): Promise<unknown[]> {
    const replies: unknown[] = new Array(calls.length)
    const nodes = new Map<unknown, number[]>()
    calls.forEach((call, i) => {
      const node = this.#nodeOf(call)
      const indices = nodes.get(node)
      if (indices) indices.push(i)
      else nodes.set(node, [i])
    })
    await Promise.all(
      [...nodes.values()].map(async (indices) => {
        const client = (calls[indices[0] as number] as Call).client
        const pipeline = client.pipeline()
        const queued: number[][] = []
        const scripts = new Map<string, number[]>()
        for (const i of indices) {
          const call = calls[i] as Call
          if ('run' in call) {
            call.run(pipeline)
            queued.push([i])
          } else {
            const group = this.router.cluster
              ? `${call.script} ${calculateSlot(call.key)}`
              : call.script
            const members = scripts.get(group)
            if (members) members.push(i)
            else scripts.set(group, [i])
          }
        }
        for (const members of scripts.values()) {
          for (let at = 0; at < members.length; at += MAX_SEGMENTS) {
            const chunk = members.slice(at, at + MAX_SEGMENTS)
            const first = calls[chunk[0] as number] as Call & { script: BatchScript }
            callBatch(
              pipeline,
              first.script,
              chunk.map((i) => (calls[i] as Call & { segment: Segment }).segment),
            )
            queued.push(chunk)
          }
        }
        this.#roundTrips++
        this.#scripts += queued.length
        const results = (await pipeline.exec()) ?? []
        queued.forEach((members, j) => {
          const [error, result] = results[j] ?? [new ShardError('no reply'), undefined]
          if (error) throw new ShardError(`Redis failed: ${error.message}`, { cause: error })
          if (members.length === 1 && 'run' in (calls[members[0] as number] as Call)) {
            replies[members[0] as number] = result
            return
          }
          for (const [k, i] of members.entries()) replies[i] = (result as unknown[])[k]
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
    const fresh = adds.filter(
      (ref) => !this.#sessions.has(ref.resourceId) && !this.#claims.has(ref.resourceId),
    )
    for (const ref of adds) this.#idle.delete(ref.resourceId)
    const removed = [...this.#idle]
    this.#idle.clear()
    const { client, key } = this.workerKeys(this.#incarnation).registry
    const calls: Call[] = []
    if (fresh.length > 0) {
      const fields = fresh.flatMap((ref) => [ref.resourceId, ref.typeName])
      calls.push({ client, key, run: (target) => (target as Redis).hset(key, ...fields) })
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

  /** Removes from this worker's registry the resources it no longer holds or executes, now. @internal */
  async unregisterIdle(resourceIds: readonly string[]): Promise<void> {
    this.#markIdle(resourceIds)
    await this.#register([])
  }

  /** `WAIT` on every node written to, when replicas must acknowledge releases. */
  async #waitForReplicas(calls: readonly Call[]): Promise<void> {
    if (this.#waitReplicas <= 0 || calls.length === 0) return
    // WAIT counts the replicas that have every write of the connection it is sent on: in a Cluster,
    // the connections to the primaries the writes went to (by the slot owners of their keys).
    const connections = this.router.cluster
      ? this.#primariesOf(calls)
      : [...new Set(calls.map((call) => call.client as Redis))]
    await Promise.all(
      connections.map(async (client) => {
        this.#roundTrips++
        const acked = await client.wait(this.#waitReplicas, this.#waitTimeoutMs)
        if (acked < this.#waitReplicas) {
          throw new ShardError(
            `only ${acked} of ${this.#waitReplicas} replicas acknowledged the releases`,
          )
        }
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

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new ArgumentError(`${name} must be a positive number, got ${value}`)
  return value
}
