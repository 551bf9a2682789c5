import type { Json } from '@phonon/core'
import type { Queryable } from './driver.js'
import { ConsumeError } from './errors.js'
import type { StoredEvent } from './store.js'

/** What a consumer is told besides the events. */
export interface ConsumeContext {
  /** The consumer's name. */
  readonly consumer: string
  /** Failures of the batch's first event so far (0 on the first try). */
  readonly attempts: number
  /**
   * Whether the batch was handed out before: to a worker that failed on it, or died or
   * overran its lease. Its events may have been consumed already, unless transactional.
   */
  readonly redelivered: boolean
  /**
   * The batch's transaction, for a transactional consumer: write to the same database in it and
   * your writes commit together with the consumer's position (exactly once). Undefined otherwise.
   */
  readonly tx: Queryable | undefined
}

/**
 * pymonster's consumer class: subclass it and override `consume` (or `consumeBatch`). The default
 * prints each event, as the seed's does.
 *
 * A consumer is at least once: a worker that dies (or whose lease runs out) before its batch is
 * finished has the batch redelivered. Set `transactional` to run the batch inside the
 * transaction that moves the consumer's position: what `consume` writes through `context.tx`
 * then happens exactly once.
 */
export class Consumer<P extends Json = Json> {
  /** The name its position is kept under; the class name unless overridden. */
  get name(): string {
    return this.constructor.name
  }

  /** Whether batches run inside the transaction that finishes them (default false). */
  get transactional(): boolean {
    return false
  }

  /**
   * Consumes one event; throwing makes it retried with backoff, and dead-lettered after
   * `maxAttempts` failures.
   */
  consume(event: StoredEvent<P>, context: ConsumeContext): void | Promise<void> {
    console.log(
      `${context.consumer} consumed ${event.name} #${event.id}: ${JSON.stringify(event.payload)}`,
    )
  }

  /**
   * Consumes a batch, in order; override to work on the batch at once.
   * @throws {@link ConsumeError} with the index of the event that failed.
   */
  async consumeBatch(events: readonly StoredEvent<P>[], context: ConsumeContext): Promise<void> {
    for (const [index, event] of events.entries()) {
      try {
        await this.consume(event, context)
      } catch (error) {
        throw new ConsumeError(index, error)
      }
    }
  }
}

/** A consumer class with a no-argument constructor, as `register` accepts. */
export type ConsumerClass = new () => Consumer<never>
