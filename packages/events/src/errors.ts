import { PhononError, type PhononErrorOptions } from '@phonon/core'

/**
 * The event store could not do what was asked: a driver is not installed, the database refused a
 * statement, or a worker's lease on a batch was taken over. Bad input is an `ArgumentError` of
 * `@phonon/core` instead.
 */
export class EventStoreError extends PhononError {
  readonly _tag = 'EventStoreError' as const
}

/**
 * A consumer failed on one event of a batch. Thrown by {@link Consumer.consumeBatch} so the
 * manager knows how far the batch got: the events before `index` are done (or, in a
 * transactional consumer, are retried at once without the failing one), the event at `index` is
 * retried with backoff and dead-lettered after `maxAttempts` failures.
 */
export class ConsumeError extends PhononError {
  readonly _tag = 'ConsumeError' as const

  constructor(
    /** Index in the batch of the event that failed. */
    readonly index: number,
    cause: unknown,
    options?: PhononErrorOptions,
  ) {
    super(`consume failed on event ${index} of the batch: ${messageOf(cause)}`, {
      ...options,
      cause,
    })
  }
}

/** The message of an error, or the value as a string. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
