/**
 * A Kysely dialect for PGlite (`@electric-sql/pglite` 0.5): PostgreSQL compiled to WebAssembly,
 * in process. `kysely-pglite-dialect` does not support PGlite 0.5, and the driver is small: one
 * connection (PGlite is single-session), handed to one caller at a time by a FIFO mutex, so a
 * transaction's statements never interleave with another caller's.
 *
 * @module
 */
import { SinkError } from '@phonon/core'
import {
  CompiledQuery,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely'
import type { PGliteInstance } from '../drivers.js'

/** Options of {@link PGliteDialect}. */
export interface PGliteDialectOptions {
  /** The PGlite instance, or a function creating it when the driver starts. */
  readonly pglite: PGliteInstance | (() => Promise<PGliteInstance>)
  /** Close the instance when Kysely is destroyed (default true). */
  readonly closeOnDestroy?: boolean
}

/**
 * Kysely's PostgreSQL compiler, adapter and introspector over a {@link PGliteDriver}.
 *
 * @example
 * const db = new Kysely<DB>({ dialect: new PGliteDialect({ pglite: await PGlite.create() }) })
 */
export class PGliteDialect implements Dialect {
  constructor(readonly options: PGliteDialectOptions) {}

  createDriver(): Driver {
    return new PGliteDriver(this.options)
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler()
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter()
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface is declared so
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new PostgresIntrospector(db)
  }
}

/** A FIFO mutex: waiters are served in the order they asked. */
class Mutex {
  #tail: Promise<void> = Promise.resolve()
  #release: (() => void) | undefined

  async lock(): Promise<void> {
    const previous = this.#tail
    let release!: () => void
    this.#tail = new Promise((resolve) => {
      release = resolve
    })
    await previous
    this.#release = release
  }

  unlock(): void {
    const release = this.#release
    this.#release = undefined
    release?.()
  }
}

/** The driver of {@link PGliteDialect}: one connection, one caller at a time. */
export class PGliteDriver implements Driver {
  readonly #options: PGliteDialectOptions
  readonly #mutex = new Mutex()
  #pglite: PGliteInstance | undefined
  #connection: PGliteConnection | undefined

  constructor(options: PGliteDialectOptions) {
    this.#options = options
  }

  async init(): Promise<void> {
    const { pglite } = this.#options
    this.#pglite = typeof pglite === 'function' ? await pglite() : pglite
    await this.#pglite.waitReady
    this.#connection = new PGliteConnection(this.#pglite)
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock()
    return this.#connection as PGliteConnection
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const mode = [
      settings.isolationLevel && `isolation level ${settings.isolationLevel}`,
      settings.accessMode,
    ].filter(Boolean)
    await connection.executeQuery(CompiledQuery.raw(['begin', ...mode].join(' ')))
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.unlock()
  }

  async destroy(): Promise<void> {
    if (this.#options.closeOnDestroy !== false && this.#pglite && !this.#pglite.closed) {
      await this.#pglite.close()
    }
  }
}

/** Runs Kysely's compiled queries on PGlite with their parameters (never interpolated). */
class PGliteConnection implements DatabaseConnection {
  constructor(readonly pglite: PGliteInstance) {}

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.pglite.query<R>(compiledQuery.sql, [...compiledQuery.parameters], {
      rowMode: 'object',
    })
    const command = result.command?.toUpperCase()
    const changed =
      command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE'
    return changed
      ? { rows: result.rows, numAffectedRows: BigInt(result.rowCount ?? result.affectedRows ?? 0) }
      : { rows: result.rows }
  }

  // biome-ignore lint/correctness/useYield: streaming is not supported, said at the first pull
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new SinkError('the PGlite dialect does not stream query results')
  }
}
