import { type AckableMessage, type Aggregator, withLocalAggregation } from '@phonon/lru-update'
import { Consumer } from './Consumer.js'
import { checkedName } from './consumerName.js'
import { ConsumeError } from './errors.js'
import type { StoredEvent } from './store.js'
import type { ToUpdates } from './TransactionalAggregation.js'

/**
 * A consumer feeding phonon's local tier: each event of a batch goes through
 * `withLocalAggregation`, the aggregator is flushed, and the batch is finished only once every
 * event's updates are in the shard (acked). An event whose updates were refused (nacked) fails
 * the batch from there: it is retried, and dead-lettered after `maxAttempts`.
 *
 * At least once: a worker killed after the flush but before the batch is finished has the batch
 * redelivered, and its updates folded again (the window of `withLocalAggregation`). For exactly
 * once into the same database, use {@link TransactionalAggregation}.
 */
export class LocalAggregationConsumer extends Consumer {
  private readonly consumerName: string

  constructor(
    name: string,
    private readonly aggregator: Aggregator,
    private readonly toUpdates: ToUpdates,
  ) {
    super()
    this.consumerName = checkedName(name)
  }

  override get name(): string {
    return this.consumerName
  }

  override async consumeBatch(events: readonly StoredEvent[]): Promise<void> {
    const settled = events.map(() => settlement())
    const handle = withLocalAggregation(this.aggregator, (message: EventMessage) =>
      this.toUpdates(message.event),
    )
    for (const [i, event] of events.entries()) {
      const { resolve, reject } = settled[i]!
      await handle({ event, ack: resolve, nack: reject })
    }
    await this.aggregator.flush()
    const results = await Promise.allSettled(settled.map((s) => s.promise))
    const failed = results.findIndex((result) => result.status === 'rejected')
    if (failed >= 0) {
      throw new ConsumeError(failed, (results[failed] as PromiseRejectedResult).reason)
    }
  }
}

interface EventMessage extends AckableMessage {
  readonly event: StoredEvent
}

function settlement() {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Settled results are read with allSettled; this keeps an early rejection from being unhandled.
  promise.catch(() => {})
  return { promise, resolve, reject }
}
