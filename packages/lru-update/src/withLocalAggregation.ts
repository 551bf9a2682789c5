import { ArgumentError, Update } from '@phonon/core'
import type { Aggregator } from './Aggregator.js'
import { describe } from './internal/describe.js'
import { Tracker } from './internal/Tracker.js'

/**
 * A message from a source that acknowledges (phonon's `enable_async` + `finish`): `ack()` once
 * what it fed is durable, `nack(error)` when it could not be (the source redelivers or
 * dead-letters it).
 */
export interface AckableMessage {
  ack(): void | Promise<void>
  nack(error: unknown): void | Promise<void>
}

/** Turns one message into the updates it feeds; none is fine (the message is acked at once). */
export type MessageHandler<M> = (
  message: M,
) => Update | readonly Update[] | undefined | Promise<Update | readonly Update[] | undefined>

/** Options of {@link withLocalAggregation}. */
export interface LocalAggregationOptions<M> {
  /**
   * Told when an `ack` or `nack` of the source itself throws or rejects. Default: none (the
   * source redelivers what it did not record as acknowledged).
   */
  readonly onAckError?: (message: M, error: unknown) => void
}

/**
 * Wraps a message handler so the aggregator does the batching and a message is acknowledged
 * only once every update it produced was folded into the shard (invariant 7): on a crash, what
 * was not acknowledged is redelivered by its source, and nothing acknowledged is lost.
 *
 * A handler that throws, or returns something that is not an `Update` (or an array of them),
 * gets its message nacked with the error ({@link ArgumentError} for a wrong return); the other
 * messages go on. An update the aggregator rejects (an update of another type for a held
 * resource) nacks its message; updates of the same message offered before it stay counted, so
 * give a message updates that cannot be rejected, or one update per message.
 *
 * @param aggregator - the aggregator the updates are offered to.
 * @param handler - turns a message into its updates; throwing nacks the message.
 * @param options - `onAckError`.
 * @returns a function to call with each message; it resolves once the message's updates were
 *   accepted (awaiting backpressure), not once they are durable: `ack` tells that. It never
 *   rejects: what goes wrong for a message is its `nack`.
 * @example
 * const handle = withLocalAggregation(aggregator, (msg: StreamMessage) =>
 *   Widget.create({ id: msg.widget, clicks: 1 }))
 * for await (const msg of source) await handle(msg)
 */
export function withLocalAggregation<M extends AckableMessage>(
  aggregator: Aggregator,
  handler: MessageHandler<M>,
  options: LocalAggregationOptions<M> = {},
): (message: M) => Promise<void> {
  const settle = (message: M, call: () => void | Promise<void>) => {
    try {
      const result = call()
      if (result instanceof Promise) result.catch((error) => options.onAckError?.(message, error))
    } catch (error) {
      options.onAckError?.(message, error)
    }
  }
  return async (message) => {
    let updates: readonly Update[]
    try {
      updates = updatesOf(await handler(message))
    } catch (error) {
      settle(message, () => message.nack(error))
      return
    }
    const tracker = new Tracker(
      updates.length,
      () => settle(message, () => message.ack()),
      (error) => settle(message, () => message.nack(error)),
    )
    for (const update of updates) {
      try {
        await aggregator.offerTracked(update, tracker)
      } catch (error) {
        tracker.fail(error)
        return
      }
    }
  }
}

/** The handler's result as an array of updates. @throws {@link ArgumentError} otherwise. */
function updatesOf(result: Update | readonly Update[] | undefined): readonly Update[] {
  if (result === undefined) return []
  const updates = Array.isArray(result) ? result : [result]
  for (const update of updates) {
    if (!(update instanceof Update)) {
      throw new ArgumentError(`a message handler must return Updates, got ${describe(update)}`)
    }
  }
  return updates
}
