import { ArgumentError } from '@phonon/core'
import { checkInteger, checkText, describe } from './values.js'

/**
 * The execution an update is written under: the `(resourceId, epoch)` the shared tier handed out
 * (a `@phonon/redis-shard` `Claim` is one), and optionally the fencing token of the lock it ran
 * under. The sink records `(resourceId, epoch)` in the same transaction as the write, so the same
 * execution never applies twice; with a fencing token it rejects writes older than one it has
 * seen for the row.
 */
export interface Execution {
  /** The resource executed (`collection.id`). */
  readonly resourceId: string
  /** The epoch of the execution: unique per resource. */
  readonly epoch: number
  /** The fencing token of the lock the executor holds, if it runs under one. */
  readonly fencingToken?: number
}

/** An execution after its checks. */
export interface CheckedExecution {
  readonly resourceId: string
  readonly epoch: number
  readonly fencingToken: number | undefined
}

/**
 * Checks an execution before anything is sent.
 *
 * @param execution - the execution, or `undefined` for a plain write.
 * @param resourceId - the resource of the update written; the execution must name it.
 * @throws {@link ArgumentError} unless `resourceId` is a string of at most 512 characters (the
 * update's own, when known), `epoch` and `fencingToken` non-negative safe integers.
 */
export function checkExecution(
  execution: unknown,
  resourceId?: string,
): CheckedExecution | undefined {
  if (execution === undefined || execution === null) return undefined
  if (typeof execution !== 'object') {
    throw new ArgumentError(
      `an execution must be { resourceId, epoch }, got ${describe(execution)}`,
    )
  }
  const e = execution as Partial<Execution>
  const id = checkText(e.resourceId, 'execution.resourceId', 512)
  if (resourceId !== undefined && id !== resourceId) {
    throw new ArgumentError(
      `execution of ${JSON.stringify(id)} cannot write the update of ${JSON.stringify(resourceId)}`,
    )
  }
  const epoch = nonNegative(e.epoch, 'execution.epoch')
  const fence =
    e.fencingToken === undefined ? undefined : nonNegative(e.fencingToken, 'execution.fencingToken')
  return { resourceId: id, epoch, fencingToken: fence }
}

function nonNegative(value: unknown, path: string): number {
  const n = checkInteger(value, path)
  if (n < 0) throw new ArgumentError(`${path} must not be negative, got ${n}`)
  return n
}
