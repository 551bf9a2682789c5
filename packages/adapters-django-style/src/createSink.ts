import type { PGlite, PGliteOptions } from '@electric-sql/pglite'
import { ArgumentError } from '@phonon/core'
import { Kysely, type Dialect as KyselyDialect, MysqlDialect, PostgresDialect } from 'kysely'
import type { Pool as MysqlPool, PoolOptions as MysqlPoolOptions } from 'mysql2'
import type { Pool as PgPool, PoolConfig as PgPoolConfig } from 'pg'
import { PGliteDialect } from './dialects/pglite.js'
import { checkSinkOptions, type Db, Sink, type SinkOptions } from './Sink.js'

/** PGlite: PostgreSQL in process, no server. In memory unless given a data directory. */
export interface PGliteSinkOptions extends SinkOptions {
  readonly dialect: 'pglite'
  /** A PGlite instance (the sink then owns it), its options, or a data directory. */
  readonly pglite?: PGlite | PGliteOptions | string
  /** The schema the tables live in (default: `public`). */
  readonly schema?: string
}

/** PostgreSQL through a `pg` pool. */
export interface PostgresSinkOptions extends SinkOptions {
  readonly dialect: 'postgres'
  /** A `pg` Pool (the sink then owns it), its config, or a connection string. */
  readonly pool: PgPool | PgPoolConfig | string
  /** The schema the tables live in (default: the connection's `search_path`). */
  readonly schema?: string
}

/** MySQL or MariaDB through a `mysql2` pool. */
export interface MysqlSinkOptions extends SinkOptions {
  readonly dialect: 'mysql'
  /**
   * A `mysql2` (callback) pool (the sink then owns it), its options, or a connection URI. A pool
   * made here reads big integers as strings (`supportBigNumbers`, `bigNumberStrings`).
   */
  readonly pool: MysqlPool | MysqlPoolOptions | string
}

/** Options of {@link createSink}, by dialect. */
export type CreateSinkOptions = PGliteSinkOptions | PostgresSinkOptions | MysqlSinkOptions

/**
 * Opens a sink on PGlite (the embedded default), PostgreSQL or MySQL/MariaDB. Drivers are loaded
 * on demand, so only the one used is imported. The sink owns the pool or PGlite instance it is
 * given: `close()` ends it.
 *
 * @param options - the dialect, its connection, and {@link SinkOptions}.
 * @returns the sink; call `migrate()` to create missing tables.
 * @throws {@link ArgumentError} for an unknown dialect, a bad schema or option.
 * @example
 * const sink = await createSink({ dialect: 'pglite', models: [Widget] })
 * await sink.migrate()
 */
export async function createSink(
  options: CreateSinkOptions = { dialect: 'pglite' },
): Promise<Sink> {
  const schema = 'schema' in options ? options.schema : undefined
  checkSinkOptions(options, schema)
  let dialect: KyselyDialect
  switch (options?.dialect) {
    case 'pglite': {
      const given = options.pglite
      const pglite =
        typeof given === 'object' && given !== null && 'query' in given
          ? (given as PGlite)
          : async () => {
              const { PGlite } = await import('@electric-sql/pglite')
              return PGlite.create(typeof given === 'string' ? { dataDir: given } : given)
            }
      dialect = new PGliteDialect({ pglite })
      break
    }
    case 'postgres': {
      const { pool } = options
      const { default: pg } = await import('pg')
      dialect = new PostgresDialect({
        pool: isPool(pool, 'connect')
          ? (pool as PgPool)
          : new pg.Pool(
              typeof pool === 'string' ? { connectionString: pool } : (pool as PgPoolConfig),
            ),
      })
      break
    }
    case 'mysql': {
      const { pool } = options
      const { default: mysql } = await import('mysql2')
      const defaults = { supportBigNumbers: true, bigNumberStrings: true }
      dialect = new MysqlDialect({
        pool: isPool(pool, 'getConnection')
          ? (pool as MysqlPool)
          : mysql.createPool(
              typeof pool === 'string'
                ? { uri: pool, ...defaults }
                : { ...defaults, ...(pool as MysqlPoolOptions) },
            ),
      })
      break
    }
    default:
      throw new ArgumentError(
        `dialect must be 'pglite', 'postgres' or 'mysql', got ${JSON.stringify((options as { dialect?: unknown })?.dialect)}`,
      )
  }
  const root: Db = new Kysely(
    options.log === undefined ? { dialect } : { dialect, log: options.log },
  )
  return new Sink(
    schema === undefined ? root : root.withSchema(schema),
    options.dialect,
    options,
    schema,
  )
}

function isPool(value: unknown, method: string): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)[method] === 'function'
  )
}
