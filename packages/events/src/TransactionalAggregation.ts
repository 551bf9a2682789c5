import { ArgumentError, Update } from '@phonon/core'
import { type ConsumeContext, Consumer } from './Consumer.js'
import { checkedName } from './consumerName.js'
import type { Queryable } from './driver.js'
import { ConsumeError } from './errors.js'
import type { StoredEvent } from './store.js'

/** Turns one event into the updates it feeds (none is fine). */
export type ToUpdates<U extends Update = Update> = (
  event: StoredEvent,
) => U | readonly U[] | undefined

/**
 * Writes a batch's merged updates to a sink in the same database, inside the given transaction.
 * Write each update's aggregate (e.g. `INSERT … ON CONFLICT DO UPDATE SET n = t.n + excluded.n`);
 * the batch's position commits in the same transaction.
 */
export type TransactionalWrite<U extends Update> = (
  updates: readonly U[],
  tx: Queryable,
) => Promise<void>

/**
 * A consumer that aggregates each batch locally (updates of one resource merged with their
 * `merge`) and writes the aggregates with `write` inside the transaction that finishes the batch:
 * the sink's rows and the consumer's position commit together, so each event counts exactly once
 * even when workers are killed or lose their lease (invariant 12). The sink must be in the
 * event store's database.
 */
export class TransactionalAggregation<U extends Update = Update> extends Consumer {
  private readonly consumerName: string

  constructor(
    name: string,
    private readonly toUpdates: ToUpdates<U>,
    private readonly write: TransactionalWrite<U>,
  ) {
    super()
    this.consumerName = checkedName(name)
  }

  override get name(): string {
    return this.consumerName
  }

  override get transactional(): boolean {
    return true
  }

  override async consumeBatch(
    events: readonly StoredEvent[],
    context: ConsumeContext,
  ): Promise<void> {
    const merged = new Map<string, U>()
    for (const [i, event] of events.entries()) {
      try {
        for (const update of updatesOf(this.toUpdates(event))) {
          const held = merged.get(update.resourceId)
          if (held === undefined) merged.set(update.resourceId, update)
          else held.merge(update)
        }
      } catch (error) {
        throw new ConsumeError(i, error)
      }
    }
    // A sink failure is no event's fault: the whole batch is retried.
    await this.write([...merged.values()], context.tx!)
  }
}

function updatesOf<U extends Update>(result: U | readonly U[] | undefined): readonly U[] {
  const updates = result === undefined ? [] : Array.isArray(result) ? result : [result as U]
  for (const update of updates) {
    if (!(update instanceof Update)) throw new ArgumentError('toUpdates must return Updates')
  }
  return updates
}
