/**
 * The three backends the conformance suite runs on. PGlite runs in process; PostgreSQL and
 * MariaDB are the shared servers of the machine (127.0.0.1:5432 and :3306), in which each run
 * creates a uniquely named schema (PostgreSQL) or database (MariaDB) and drops it afterwards.
 * `.ci/run` makes both servers reachable; a test never skips because one is missing.
 */
import { postgresConfig, uniqueName } from '@phonon/testkit'
import type { LogEvent } from 'kysely'
import mysql from 'mysql2/promise'
import { type AnySqlModel, createSink, type Sink } from '../src/index.js'

/** A sink on a private schema or database, the SQL it sent, and how to drop it all. */
export interface Backend {
  readonly sink: Sink
  /** Every statement the sink sent, in order (cleared by tests). */
  readonly queries: string[]
  /** Drops the schema or database and closes the sink. */
  drop(): Promise<void>
}

/** Opens a backend whose tables are those of `models` (created by `migrate()`). */
export type OpenBackend = (models: readonly AnySqlModel[]) => Promise<Backend>

function recorder(queries: string[]) {
  return (event: LogEvent) => {
    if (event.level === 'query') queries.push(event.query.sql)
  }
}

/** Where the shared MariaDB server is (root, empty password). */
const MARIADB = {
  host: process.env.MYSQL_HOST ?? '127.0.0.1',
  port: Number(process.env.MYSQL_PORT ?? 3306),
  user: process.env.MYSQL_USER ?? 'root',
  password: process.env.MYSQL_PASSWORD ?? '',
}

/** Runs `migrate()` on the backend's sink; when it fails, drops what was made and rethrows. */
async function migrated(backend: Backend): Promise<Backend> {
  try {
    await backend.sink.migrate()
  } catch (error) {
    await backend.drop()
    throw error
  }
  return backend
}

export const openPGlite: OpenBackend = async (models) => {
  const queries: string[] = []
  const sink = await createSink({ dialect: 'pglite', models, log: recorder(queries) })
  return migrated({ sink, queries, drop: () => sink.close() })
}

/**
 * Opens `models` on the shared PostgreSQL server in a schema of their own (`schema`, a fresh
 * {@link uniqueName} unless named), which `migrate()` creates; when `migrate()` fails, the schema
 * is dropped and the sink closed before the error is rethrown (by {@link migrated}).
 */
export async function openPostgres(
  models: readonly AnySqlModel[],
  schema: string = uniqueName(),
): Promise<Backend> {
  const queries: string[] = []
  const sink = await createSink({
    dialect: 'postgres',
    pool: { ...postgresConfig(), max: 20 },
    schema,
    models,
    log: recorder(queries),
  })
  const drop = async () => {
    try {
      await sink.db.schema.dropSchema(schema).ifExists().cascade().execute()
    } finally {
      await sink.close()
    }
  }
  return migrated({ sink, queries, drop })
}

export const openMariaDB: OpenBackend = async (models) => {
  const database = uniqueName()
  const admin = await mysql.createConnection(MARIADB)
  await admin.query(`CREATE DATABASE \`${database}\``)
  const queries: string[] = []
  const sink = await createSink({
    dialect: 'mysql',
    pool: { ...MARIADB, database, connectionLimit: 20 },
    models,
    log: recorder(queries),
  })
  const drop = async () => {
    try {
      await sink.close()
    } finally {
      try {
        await admin.query(`DROP DATABASE IF EXISTS \`${database}\``)
      } finally {
        await admin.end()
      }
    }
  }
  return migrated({ sink, queries, drop })
}
