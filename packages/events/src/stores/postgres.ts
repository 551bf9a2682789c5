import {
  type Driver,
  importDriver,
  type PgPool,
  type PgPoolClient,
  type Queryable,
} from '../driver.js'

/** How to reach PostgreSQL: your own `pg` pool, or a connection string (a pool is made). */
export type PostgresConnection = { readonly pool: PgPool } | { readonly connectionString: string }

/**
 * A {@link Driver} on a `pg` pool. LISTEN holds one connection of the pool for as long as a
 * consumer loop runs; give the pool one more connection than your workers use.
 *
 * @throws {@link EventStoreError} when `pg` is not installed and a connection string is given.
 */
export async function postgresDriver(connection: PostgresConnection): Promise<Driver> {
  if ('pool' in connection) return new PostgresDriver(connection.pool, false)
  const pg = await importDriver('pg', () => import('pg'))
  return new PostgresDriver(
    new pg.default.Pool({ connectionString: connection.connectionString }),
    true,
  )
}

class PostgresDriver implements Driver {
  constructor(
    private readonly pool: PgPool,
    private readonly ownsPool: boolean,
  ) {}

  async query<R>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    return (await this.pool.query(text, [...params])).rows as R[]
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect()
    let broken: Error | undefined
    try {
      await client.query('BEGIN')
      const result = await fn(client)
      await client.query('COMMIT')
      return result
    } catch (error) {
      // A connection that cannot roll back is dropped rather than handed to the next caller.
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError
      })
      throw error
    } finally {
      client.release(broken)
    }
  }

  async listen(channel: string, onNotify: () => void): Promise<() => Promise<void>> {
    const client: PgPoolClient = await this.pool.connect()
    const handler = (message: { channel: string }) => {
      if (message.channel === channel) onNotify()
    }
    // A broken listening connection only costs wake-ups: the loops poll anyway.
    const ignore = () => {}
    client.on('notification', handler)
    client.on('error', ignore)
    await client.query(`LISTEN "${channel}"`)
    return async () => {
      client.off('notification', handler)
      try {
        await client.query(`UNLISTEN "${channel}"`)
        client.release()
      } catch (error) {
        client.release(error as Error)
      } finally {
        client.off('error', ignore)
      }
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end()
  }
}
