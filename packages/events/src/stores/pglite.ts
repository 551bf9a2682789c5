import { type Driver, importDriver, type PGliteInstance, type Queryable } from '../driver.js'

/** Which PGlite: your own instance, or a data directory (`memory://` when none) to open. */
export type PGliteConnection = { readonly pglite: PGliteInstance } | { readonly dataDir?: string }

/**
 * A {@link Driver} on PGlite: PostgreSQL in process. PGlite runs one statement or transaction
 * at a time, so workers in one process take turns; LISTEN/NOTIFY works within the instance.
 *
 * @throws {@link EventStoreError} when `@electric-sql/pglite` is not installed and no instance is
 *   given.
 */
export async function pgliteDriver(connection: PGliteConnection = {}): Promise<Driver> {
  if ('pglite' in connection) return new PGliteDriver(connection.pglite, false)
  const { PGlite } = await importDriver(
    '@electric-sql/pglite',
    () => import('@electric-sql/pglite'),
  )
  return new PGliteDriver(await PGlite.create(connection.dataDir ?? 'memory://'), true)
}

class PGliteDriver implements Driver {
  constructor(
    private readonly db: PGliteInstance,
    private readonly ownsDb: boolean,
  ) {}

  async query<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    return (await this.db.query<R>(text, [...params])).rows
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(tx))
  }

  async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
    return this.db.listen(channel, onNotify)
  }

  async close(): Promise<void> {
    if (this.ownsDb) await this.db.close()
  }
}
