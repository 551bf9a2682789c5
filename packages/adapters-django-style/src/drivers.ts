/**
 * The database drivers, optional peer dependencies loaded on demand, and the few shapes of them
 * this package uses, declared here so that its types need neither the drivers nor `@types/pg`.
 *
 * @module
 */
import { SinkError } from '@phonon/core'
import type { MysqlPool, PostgresPool } from 'kysely'

/**
 * A PGlite instance (`@electric-sql/pglite` 0.5): what the PGlite dialect calls on it. A `PGlite`
 * from `PGlite.create()` is one.
 */
export interface PGliteInstance {
  readonly waitReady: Promise<void>
  readonly closed: boolean
  query<R>(
    sql: string,
    params?: unknown[],
    options?: { readonly rowMode?: 'object' | 'array' },
  ): Promise<PGliteResults<R>>
  close(): Promise<void>
}

/** What a PGlite query returns. */
export interface PGliteResults<R> {
  readonly rows: R[]
  readonly affectedRows?: number
  readonly command?: string
  readonly rowCount?: number
}

/** PGlite's options (`dataDir`, `extensions`…), passed to `PGlite.create` as they are. */
export interface PGliteOptions {
  readonly dataDir?: string
  readonly [option: string]: unknown
}

/** A `pg` pool's configuration, passed to `new pg.Pool` as it is. */
export interface PostgresPoolConfig {
  readonly connectionString?: string
  readonly host?: string
  readonly port?: number
  readonly user?: string
  readonly password?: string
  readonly database?: string
  readonly max?: number
  /** How long connecting may take (ms); 5,000 unless given. */
  readonly connectionTimeoutMillis?: number
  readonly [option: string]: unknown
}

/** A `mysql2` pool's options, passed to `mysql2.createPool` as they are. */
export interface MysqlPoolOptions {
  readonly uri?: string
  readonly host?: string
  readonly port?: number
  readonly user?: string
  readonly password?: string
  readonly database?: string
  readonly connectionLimit?: number
  /** How long connecting may take (ms); 5,000 unless given. */
  readonly connectTimeout?: number
  readonly [option: string]: unknown
}

export type { MysqlPool, PostgresPool }

/** How long a pool made here waits for a connection before the sink reports it unreachable. */
export const CONNECT_TIMEOUT_MS = 5_000

/** The driver of each dialect: the package to install. */
const PACKAGES = { postgres: 'pg', mysql: 'mysql2', pglite: '@electric-sql/pglite' } as const

interface Drivers {
  readonly postgres: { Pool: new (config: PostgresPoolConfig) => PostgresPool }
  readonly mysql: { createPool(options: MysqlPoolOptions): MysqlPool }
  readonly pglite: { PGlite: { create(options?: PGliteOptions): Promise<PGliteInstance> } }
}

/**
 * Imports a dialect's driver (an optional peer dependency).
 * @throws {@link SinkError} naming the package to install when it is not installed.
 */
export async function loadDriver<D extends keyof Drivers>(dialect: D): Promise<Drivers[D]> {
  return importDriver(PACKAGES[dialect], dialect) as Promise<Drivers[D]>
}

/**
 * Imports `name`, the driver of `dialect`; its default export when it has one (pg and mysql2 are
 * CommonJS).
 * @throws {@link SinkError} naming the package to install when it is not installed.
 */
export async function importDriver(name: string, dialect: string): Promise<unknown> {
  try {
    const module = (await import(name)) as { default?: unknown }
    return module.default ?? module
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error
    throw new SinkError(
      `dialect '${dialect}' needs the ${name} package, an optional peer dependency: npm install ${name}`,
      { cause: error },
    )
  }
}
