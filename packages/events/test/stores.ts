/**
 * The two databases every test runs on: PGlite in process, and the shared PostgreSQL server
 * (127.0.0.1:5432, trust) in a schema of its own per run, dropped afterwards.
 */
import { PGlite } from '@electric-sql/pglite'
import { postgresConfig, postgresSchema, waitFor } from '@phonon/testkit'
import pg from 'pg'
import { type EventStore, pgliteStore, postgresStore } from '../src/index.js'

/** A store, and how to drop it. */
export interface TestStore {
  readonly store: EventStore
  /** Runs one statement on the store's database. */
  sql<R>(text: string, params?: unknown[]): Promise<R[]>
  drop(): Promise<void>
}

export type OpenStore = () => Promise<TestStore>

/** The prefix of this package's schemas (`phonon_ev_<pid>_<random>`). */
export const SCHEMA_PREFIX = 'phonon_ev'

let shared: Promise<PGlite> | undefined

/**
 * The PGlite instance of this test file (starting one takes seconds on a busy machine): call it
 * in a `beforeAll` with a long timeout. Closed when the process exits.
 */
export function sharedPGlite(): Promise<PGlite> {
  shared ??= PGlite.create('memory://')
  return shared
}

export const openPGlite: OpenStore = async () => {
  const pglite = await sharedPGlite()
  const { schema, drop } = postgresSchema((sql) => pglite.query(sql), SCHEMA_PREFIX)
  const store = await pgliteStore({ pglite, schema })
  return { store, sql: (text, params) => store.driver.query(text, params), drop }
}

export const openPostgres: OpenStore = async () => {
  const pool = new pg.Pool({ ...postgresConfig(), max: 12 })
  const { schema, drop } = postgresSchema((sql) => pool.query(sql), SCHEMA_PREFIX)
  const store = await postgresStore({ pool, schema })
  return {
    store,
    sql: async (text, params) => (await pool.query(text, params)).rows,
    async drop() {
      try {
        await drop()
      } finally {
        await store.close()
        await pool.end()
      }
    },
  }
}

export const backends = [
  ['PGlite', openPGlite],
  ['PostgreSQL', openPostgres],
] as const

/** Polls a check until it holds or its deadline passes: testkit's `waitFor`. */
export { waitFor as eventually }

/**
 * Steps `consumers` until they have nothing left. On the shared server a claim reads only below
 * the oldest transaction running anywhere on it, so a step may find nothing yet: poll.
 */
export async function drain(consumers: {
  consumeOnce(): Promise<number>
  lag(): Promise<readonly { events: number }[]>
}): Promise<void> {
  await waitFor('the consumers to catch up', async () => {
    await consumers.consumeOnce()
    return (await consumers.lag()).every((lag) => lag.events === 0)
  })
}

/** Steps `consumers` until a step hands out events; resolves to how many. */
export async function step(consumers: { consumeOnce(): Promise<number> }): Promise<number> {
  let handed = 0
  await waitFor('a batch', async () => {
    handed = await consumers.consumeOnce()
    return handed > 0
  })
  return handed
}
