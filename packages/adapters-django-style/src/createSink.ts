import { ArgumentError } from '@phonon/core'
import { Kysely, type Dialect as KyselyDialect, MysqlDialect, PostgresDialect } from 'kysely'
import { PGliteDialect } from './dialects/pglite.js'
import {
  CONNECT_TIMEOUT_MS,
  loadDriver,
  type MysqlPool,
  type MysqlPoolOptions,
  type PGliteInstance,
  type PGliteOptions,
  type PostgresPool,
  type PostgresPoolConfig,
} from './drivers.js'
import { checkSinkOptions, Sink, type SinkOptions } from './Sink.js'
import type { Db } from './sql.js'

/** PGlite: PostgreSQL in process, no server. In memory unless given a data directory. */
export interface PGliteSinkOptions extends SinkOptions {
  readonly dialect: 'pglite'
  /** A PGlite instance (the sink then owns it), its options, or a data directory. */
  readonly pglite?: PGliteInstance | PGliteOptions | string
  /** The schema the tables live in (default: `public`). */
  readonly schema?: string
}

/** PostgreSQL through a `pg` pool (`npm install pg`). */
export interface PostgresSinkOptions extends SinkOptions {
  readonly dialect: 'postgres'
  /**
   * A `pg` Pool (the sink then owns it), its config, or a connection string. A pool made here
   * gives up connecting after 5 s (`connectionTimeoutMillis`).
   */
  readonly pool: PostgresPool | PostgresPoolConfig | string
  /** The schema the tables live in (default: the connection's `search_path`). */
  readonly schema?: string
}

/** MySQL or MariaDB through a `mysql2` pool (`npm install mysql2`). */
export interface MysqlSinkOptions extends SinkOptions {
  readonly dialect: 'mysql'
  /**
   * A `mysql2` (callback) pool (the sink then owns it), its options, or a connection URI. A pool
   * made here reads big integers as strings (`supportBigNumbers`, `bigNumberStrings`) and gives
   * up connecting after 5 s (`connectTimeout`).
   */
  readonly pool: MysqlPool | MysqlPoolOptions | string
}

/** Options of {@link createSink}, by dialect. */
export type CreateSinkOptions = PGliteSinkOptions | PostgresSinkOptions | MysqlSinkOptions

/**
 * Opens a sink on PGlite (the embedded default), PostgreSQL or MySQL/MariaDB. Drivers are
 * optional peer dependencies loaded on demand: only the one used is imported, and only it needs
 * installing (`@electric-sql/pglite`, `pg` or `mysql2`). The sink owns the pool or PGlite
 * instance it is given: `close()` ends it. Nothing connects yet: the first query does.
 *
 * @param options - the dialect, its connection, and {@link SinkOptions}.
 * @returns the sink; call `migrate()` to create missing tables.
 * @throws {@link ArgumentError} for an unknown dialect, a bad schema or option.
 * @throws {@link SinkError} when the dialect's driver is not installed, naming the package.
 * @example
 * const sink = await createSink({ dialect: 'pglite', models: [Widget] })
 * await sink.migrate()
 */
export async function createSink(
  options: CreateSinkOptions = { dialect: 'pglite' },
): Promise<Sink> {
  const schema = 'schema' in options ? options.schema : undefined
  checkSinkOptions(options, schema)
  const { dialect, database } = await openDialect(options)
  const root: Db = new Kysely(
    options.log === undefined ? { dialect } : { dialect, log: options.log },
  )
  return new Sink(
    schema === undefined ? root : root.withSchema(schema),
    options.dialect,
    options,
    schema,
    database,
  )
}

/** The Kysely dialect of the options, and the database as errors name it. */
async function openDialect(
  options: CreateSinkOptions,
): Promise<{ dialect: KyselyDialect; database: string }> {
  switch (options?.dialect) {
    case 'pglite': {
      const given = options.pglite
      if (isPool<PGliteInstance>(given, 'query')) {
        return { dialect: new PGliteDialect({ pglite: given }), database: 'PGlite' }
      }
      const { PGlite } = await loadDriver('pglite')
      const config = typeof given === 'string' ? { dataDir: given } : given
      const pglite = () => PGlite.create(config)
      const where = config?.dataDir === undefined ? 'in memory' : `at ${config.dataDir}`
      return { dialect: new PGliteDialect({ pglite }), database: `PGlite ${where}` }
    }
    case 'postgres': {
      const { pool } = options
      const made = toMake<PostgresPool, PostgresPoolConfig>(pool, 'connect', 'connectionString')
      const config = made ?? (pool as { options?: PostgresPoolConfig }).options ?? {}
      const database = `PostgreSQL at ${address(config.connectionString, config, 'PGHOST', 'PGPORT', 5432)}`
      if (made === undefined)
        return { dialect: new PostgresDialect({ pool: pool as PostgresPool }), database }
      const pg = await loadDriver('postgres')
      const withTimeout = { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...made }
      return { dialect: new PostgresDialect({ pool: new pg.Pool(withTimeout) }), database }
    }
    case 'mysql': {
      const { pool } = options
      const made = toMake<MysqlPool, MysqlPoolOptions>(pool, 'getConnection', 'uri')
      const given = pool as { config?: { connectionConfig?: MysqlPoolOptions } }
      const config = made ?? given.config?.connectionConfig ?? {}
      const database = `MySQL at ${address(config.uri, config, undefined, undefined, 3306)}`
      if (made === undefined)
        return { dialect: new MysqlDialect({ pool: pool as MysqlPool }), database }
      const mysql = await loadDriver('mysql')
      const defaults = {
        supportBigNumbers: true,
        bigNumberStrings: true,
        connectTimeout: CONNECT_TIMEOUT_MS,
      }
      return {
        dialect: new MysqlDialect({ pool: mysql.createPool({ ...defaults, ...made }) }),
        database,
      }
    }
    default:
      throw new ArgumentError(
        `dialect must be 'pglite', 'postgres' or 'mysql', got ${JSON.stringify((options as { dialect?: unknown })?.dialect)}`,
      )
  }
}

/**
 * `host:port` of a connection: from its URL when it has one, else its options, else the
 * environment the driver reads (pg: `PGHOST`, `PGPORT`), else the driver's defaults.
 */
function address(
  url: string | undefined,
  options: { readonly host?: string; readonly port?: number },
  hostVariable: string | undefined,
  portVariable: string | undefined,
  defaultPort: number,
): string {
  if (url !== undefined && URL.canParse(url)) {
    const parsed = new URL(url)
    return `${parsed.hostname || 'localhost'}:${parsed.port || defaultPort}`
  }
  const host = options.host ?? (hostVariable && process.env[hostVariable]) ?? 'localhost'
  const port = options.port ?? (portVariable && process.env[portVariable]) ?? defaultPort
  return `${host}:${port}`
}

/**
 * The options of the pool to make: those given, or a connection string as `{ [urlKey]: url }`;
 * `undefined` when `pool` is a pool already (it has `method`).
 */
function toMake<P, C>(
  pool: P | C | string,
  method: keyof P & string,
  urlKey: string,
): C | undefined {
  if (isPool<P>(pool, method)) return undefined
  return (typeof pool === 'string' ? { [urlKey]: pool } : pool) as C
}

/** Whether `value` is a pool (or PGlite instance) rather than its options: it has `method`. */
function isPool<T>(value: unknown, method: keyof T & string): value is T {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Record<string, unknown>)[method] === 'function'
  )
}
