import { ShardError, type Update } from '@phonon/core'
import type {
  Claim,
  FoldResult,
  Hold,
  LockHandle,
  LockOptions,
  ReleaseResult,
  ResourceRef,
  Shard,
} from './Shard.js'

/**
 * One resource seen through a shard, phonon's `Reference`: a session of it (acquire, fold,
 * release), its counts, its lock and its executions.
 *
 * @example
 * const ref = new Reference(shard, { resourceId: 'users.42', typeName: 'UserUpdate' })
 * await ref.acquire()
 * const result = await ref.release({ delta: update })
 * if (result.last) { await result.claim.update.execute(result.claim); await ref.completeExecution(result.claim) }
 */
export class Reference {
  #hold: Hold | undefined

  constructor(
    readonly shard: Shard,
    readonly resource: ResourceRef,
  ) {}

  /** Starts this reference's session. @throws {@link ShardError} when it already holds one. */
  async acquire(): Promise<void> {
    if (this.#hold)
      throw new ShardError(`${this.resource.resourceId}: this reference is held already`)
    this.#hold = await this.shard.acquire(this.resource)
  }

  /** Folds a partial aggregate, keeping the session. */
  async fold({ delta }: { delta: Update }): Promise<FoldResult> {
    const result = await this.shard.fold(this.#held(), delta)
    this.#hold = result.hold
    return result
  }

  /** Ends the session: removes the hold, folds `delta`, claims the execution if last. */
  async release({ delta }: { delta?: Update } = {}): Promise<ReleaseResult> {
    const result = await this.shard.release(this.#held(), delta)
    this.#hold = undefined
    return result
  }

  /** Completes a claim of this resource; returns the next claim, if any. */
  completeExecution(claim: Claim): Promise<Claim | undefined> {
    return this.shard.completeExecution(claim)
  }

  /** How many sessions hold the resource. */
  count(): Promise<number> {
    return this.shard.count(this.resource.resourceId)
  }

  /** How many times the resource's current session was modified. */
  timesModified(): Promise<number> {
    return this.shard.timesModified(this.resource.resourceId)
  }

  /** Takes the resource's lock. @throws {@link AlreadyLocked} when it cannot be had in time. */
  lock(options?: LockOptions): Promise<LockHandle> {
    return this.shard.lock(this.resource.resourceId, options)
  }

  /** Asks every holder to end its session. */
  forceExpiry(): Promise<void> {
    return this.shard.forceExpiry(this.resource.resourceId)
  }

  #held(): Hold {
    if (!this.#hold)
      throw new ShardError(`${this.resource.resourceId}: acquire the reference first`)
    return this.#hold
  }
}
