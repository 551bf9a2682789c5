/**
 * The Effect API of `@phonon/lru-update`: the aggregator as a service with a scoped lifetime,
 * and its operations as Effects. The same implementation as the Promise API underneath.
 *
 * @example
 * import { Effect } from 'effect'
 * import * as LocalAggregation from '@phonon/lru-update/effect'
 *
 * const program = Effect.gen(function* () {
 *   yield* LocalAggregation.offer(Widget.create({ id: 'w1', clicks: 1 }))
 * }).pipe(Effect.provide(LocalAggregation.layer({ shard, max: 10_000 })))
 *
 * @packageDocumentation
 */
import { ArgumentError, CacheError, type Update } from '@phonon/core'
import { Context, Effect, Layer, type Scope } from 'effect'
import { Aggregator } from './Aggregator.js'
import type { AggregatorStats } from './internal/Stats.js'
import type { AggregatorOptions } from './options.js'

/** The aggregator service. */
export class LocalAggregator extends Context.Tag('@phonon/lru-update/LocalAggregator')<
  LocalAggregator,
  Aggregator
>() {}

/**
 * An aggregator living as long as the scope: closed (every session released and executed) when
 * the scope closes.
 * @throws (as a defect) {@link ArgumentError} for invalid options.
 */
export const make = (options: AggregatorOptions): Effect.Effect<Aggregator, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Aggregator(options)),
    (aggregator) => Effect.promise(() => aggregator.close()),
  )

/**
 * A layer providing {@link LocalAggregator}, closed with its scope.
 * @throws (as a defect) {@link ArgumentError} for invalid options.
 */
export const layer = (options: AggregatorOptions): Layer.Layer<LocalAggregator> =>
  Layer.scoped(LocalAggregator, make(options))

/**
 * Offers an update; suspends while the flusher is behind (backpressure).
 * @throws (as typed failures) {@link ArgumentError} or {@link CacheError}, as `Aggregator.offer`
 *   throws them; anything else a custom `merge` throws is a defect.
 */
export const offer = (
  update: Update,
): Effect.Effect<void, ArgumentError | CacheError, LocalAggregator> =>
  Effect.flatMap(LocalAggregator, (aggregator) =>
    Effect.flatMap(
      Effect.suspend(() => {
        try {
          return Effect.succeed(aggregator.offer(update))
        } catch (error) {
          // phonon's own errors are expected failures; anything else (a custom merge's bug) a defect.
          return error instanceof ArgumentError || error instanceof CacheError
            ? Effect.fail(error)
            : Effect.die(error)
        }
      }),
      (wait) => (wait === undefined ? Effect.void : Effect.promise(() => wait)),
    ),
  )

/** An Effect of the service that waits for one of its Promise methods. */
const awaiting = (run: (aggregator: Aggregator) => Promise<void>) =>
  Effect.flatMap(LocalAggregator, (aggregator) => Effect.promise(() => run(aggregator)))

/** Ends a resource's session; succeeds with whether one was held. */
export const expire = (resourceId: string): Effect.Effect<boolean, never, LocalAggregator> =>
  Effect.map(LocalAggregator, (aggregator) => aggregator.expire(resourceId))

/** Ends every session and waits until they were released and executed. */
export const expireAll: Effect.Effect<void, never, LocalAggregator> = awaiting((a) => a.expireAll())

/** Ends the sessions that are over by now, folds entries dirty too long, and waits. */
export const purge: Effect.Effect<void, never, LocalAggregator> = awaiting((a) => a.purge())

/** Waits until nothing is queued or in flight. */
export const drain: Effect.Effect<void, never, LocalAggregator> = awaiting((a) => a.drain())

/** Folds every dirty entry into the shard and waits for it. */
export const flush: Effect.Effect<void, never, LocalAggregator> = awaiting((a) => a.flush())

/** The aggregator's counters. */
export const stats: Effect.Effect<AggregatorStats, never, LocalAggregator> = Effect.map(
  LocalAggregator,
  (aggregator) => aggregator.stats(),
)
