/**
 * `@phonon/events`: pymonster for TypeScript. Typed, dotted event names logged to one append-only
 * log on PostgreSQL or PGlite; consumers with their own positions, leased batches, retries and
 * dead letters, reading in a commit-safe order; a phonon source.
 *
 * @packageDocumentation
 */
export { type ConsumeContext, Consumer, type ConsumerClass } from './Consumer.js'
export {
  ConsumerManager,
  type ConsumerManagerOptions,
  createConsumerManager,
  type LoopOptions,
  type Registration,
} from './ConsumerManager.js'
export type { Driver, PGliteInstance, PgPool, PgPoolClient, Queryable } from './driver.js'
export { Event, type EventClass, type EventContext, type LogOptions } from './Event.js'
export { createEventManager, EventManager, type EventManagerOptions } from './EventManager.js'
export { ConsumeError, EventStoreError } from './errors.js'
export { LocalAggregationConsumer } from './LocalAggregationConsumer.js'
export type {
  CamelCase,
  Declaration,
  Declarations,
  EventTree,
  HandleOf,
  InputOf,
} from './registry.js'
export {
  type Batch,
  type ConsumerLag,
  comparePositions,
  type DeadLetter,
  EventStore,
  type LoggedEvent,
  type Position,
  pgliteStore,
  postgresStore,
  type RetryPolicy,
  type StartFrom,
  type StoredEvent,
  type StoreOptions,
} from './store.js'
export type { PGliteConnection } from './stores/pglite.js'
export type { PostgresConnection } from './stores/postgres.js'
export {
  type ToUpdates,
  TransactionalAggregation,
  type TransactionalWrite,
} from './TransactionalAggregation.js'
