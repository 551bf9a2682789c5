import { ShardError } from '@phonon/core'

/**
 * Why one resource of a batch was refused, as the scripts report it (`lua/includes/protocol.lua`
 * is generated from the same list):
 * - `overflow`: an integer field would leave the signed 64-bit range;
 * - `wrongType`: a key of the resource holds another Redis type (it was written by something
 *   else, or a field changed kind);
 * - `notHeld`: a fold past the final step of a hold that was already released (a fold after the
 *   release; a replay of a fold at or below it answers as applied);
 * - `outOfOrder`: a fold or release whose hold is ahead of the shard's: a fold before it (whose
 *   reply was lost) never arrived. Send that fold again first (same hold), then this one.
 */
export type ResourceErrorCode = 'overflow' | 'wrongType' | 'notHeld' | 'outOfOrder'

/**
 * One resource of a batch failed and was left exactly as it was; the other resources of the
 * batch proceeded. Retrying the same item after fixing the cause is safe.
 */
export class ResourceError extends ShardError {
  constructor(
    /** The resource that failed. */
    readonly resourceId: string,
    /** Why. */
    readonly code: ResourceErrorCode,
    message: string,
  ) {
    super(`${resourceId}: ${message}`)
  }
}

/**
 * `WAIT` got fewer replica acknowledgements than `waitReplicas` within `waitTimeoutMs` (or the
 * connection did not answer in time, e.g. during a failover). The releases were applied on the
 * primary but may not survive its loss: retry them (they are idempotent).
 */
export class ReplicaTimeout extends ShardError {
  constructor(
    readonly wanted: number,
    readonly acknowledged: number,
    readonly timeoutMs: number,
  ) {
    super(
      `only ${Math.max(0, acknowledged)} of ${wanted} replicas acknowledged the releases within ${timeoutMs} ms`,
    )
  }
}
