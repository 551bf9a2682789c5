import { randomBytes } from 'node:crypto'

/** Where the shared PostgreSQL server is: what `pg.Pool` (or a sink's `pool`) is given. */
export interface PostgresConfig {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
}

/**
 * The shared PostgreSQL server of tests and benchmarks, from the libpq variables `PGHOST`,
 * `PGPORT`, `PGUSER` and `PGDATABASE`; by default `127.0.0.1:5432`, user `postgres`, database
 * `test` (trust authentication, no password).
 *
 * @returns a fresh object each call, to spread into a pool's options.
 * @example
 * ```ts
 * const pool = new pg.Pool({ ...postgresConfig(), max: 4 })
 * ```
 */
export function postgresConfig(): PostgresConfig {
  return {
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'test',
  }
}

/**
 * A name no other run uses, for a PostgreSQL schema or a MariaDB database on a shared server:
 * `<prefix>_<pid>_<8 hex digits>` (lower case, so it needs no quoting rules of its own).
 *
 * @param prefix - letters, digits and `_`; `phonon_test` by default.
 * @throws Error when `prefix` is not a plain SQL identifier.
 */
export function uniqueName(prefix = 'phonon_test'): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(prefix))
    throw new Error(`uniqueName: prefix must match [a-z_][a-z0-9_]*, got ${JSON.stringify(prefix)}`)
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`
}

/** A uniquely named schema of one run, made by {@link postgresSchema}. */
export interface PostgresSchema {
  /** Its name, from {@link uniqueName}: give it to the store or sink that creates it. */
  readonly schema: string
  /**
   * Drops the schema and everything in it (`DROP SCHEMA IF EXISTS "<schema>" CASCADE`) through
   * the caller's connection; dropping a schema never created, or dropped already, does nothing.
   */
  drop(): Promise<void>
}

/**
 * A uniquely named schema for one run on a shared PostgreSQL server (or a PGlite instance),
 * dropped through `query`, a connection of the caller's (testkit has no database driver). The
 * schema is not created here: whatever is given its name creates it (an event store, a sink's
 * `migrate()`), or the caller does.
 *
 * @param query - runs one SQL statement, e.g. `(sql) => pool.query(sql)`; called by `drop()` only.
 * @param prefix - the name's prefix (see {@link uniqueName}).
 * @throws Error when `prefix` is not a plain SQL identifier.
 * @example
 * ```ts
 * const pool = new pg.Pool(postgresConfig())
 * const { schema, drop } = postgresSchema((sql) => pool.query(sql))
 * const store = await postgresStore({ pool, schema })
 * try {
 *   // ...
 * } finally {
 *   await drop()
 *   await store.close()
 *   await pool.end()
 * }
 * ```
 */
export function postgresSchema(
  query: (statement: string) => Promise<unknown>,
  prefix?: string,
): PostgresSchema {
  const schema = uniqueName(prefix)
  return {
    schema,
    async drop() {
      await query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    },
  }
}
