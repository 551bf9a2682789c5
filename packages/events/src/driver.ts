import { EventStoreError } from './errors.js'

/**
 * Anything that runs one parameterised statement and hands back its rows: a `pg` `Pool`,
 * `Client` or `PoolClient`, a `PGlite` instance or a PGlite transaction. Pass one as `tx` to log
 * events inside your own transaction (the outbox pattern).
 */
export interface Queryable {
  query(text: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

/**
 * What this package calls on a `pg` pool (a `pg.Pool` is one), declared here so that its
 * published types need neither `pg` nor `@types/pg`.
 */
export interface PgPool extends Queryable {
  connect(): Promise<PgPoolClient>
  end(): Promise<void>
}

/** What this package calls on a connection of a `pg` pool (a `pg.PoolClient` is one). */
export interface PgPoolClient extends Queryable {
  release(error?: Error | boolean): void
  on(event: 'notification', listener: (message: { channel: string }) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  off(event: 'notification', listener: (message: { channel: string }) => void): unknown
  off(event: 'error', listener: (error: Error) => void): unknown
}

/**
 * What this package calls on a PGlite instance (a `PGlite` from `@electric-sql/pglite` is one),
 * declared here so that its published types do not depend on PGlite's.
 */
export interface PGliteInstance {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  listen(channel: string, onNotify: () => void): Promise<() => Promise<void>>
  close(): Promise<void>
}

/** What the event store needs from a database; `stores/postgres.ts` and `stores/pglite.ts`. */
export interface Driver {
  /** Runs one statement outside any transaction. */
  query<R>(text: string, params?: readonly unknown[]): Promise<R[]>
  /** Runs `fn` in a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /** Calls `onNotify` on each NOTIFY of `channel`; resolves to a function that stops listening. */
  listen(channel: string, onNotify: () => void): Promise<() => Promise<void>>
  /** Closes what the driver opened (not a pool or instance it was given). */
  close(): Promise<void>
}

/** Rows of one statement run on `queryable`. */
export async function rowsOf<R>(
  queryable: Queryable,
  text: string,
  params: readonly unknown[],
): Promise<R[]> {
  return (await queryable.query(text, [...params])).rows as R[]
}

/**
 * Imports an optional peer dependency.
 * @throws {@link EventStoreError} naming the package to install when it is missing.
 */
export async function importDriver<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new EventStoreError(
        `this store needs the ${name} package: install it (npm i ${name})`,
        {
          cause: error,
        },
      )
    }
    throw error
  }
}
