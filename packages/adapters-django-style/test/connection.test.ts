/**
 * Connections: a database that cannot be reached is a SinkError naming it (host and port) with
 * the driver's error as cause, from every call; a driver that is not installed is a SinkError
 * naming the package to install; a pool given as a driver's instance is used as it is.
 */
import { createServer } from 'node:net'
import { id, SinkError, sum } from '@phonon/core'
import { postgresConfig } from '@phonon/testkit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { importDriver, loadDriver } from '../src/drivers.js'
import { createSink, defineSqlModel, type Sink } from '../src/index.js'

/** A port nothing listens on: one the system just handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())))
  return port
}

const Widget = defineSqlModel('Widget', { id: id(), clicks: sum() }, { table: 'widgets' })

describe('a database that cannot be reached', () => {
  let port: number
  const sinks: Sink[] = []
  beforeAll(async () => {
    port = await closedPort()
  })
  afterAll(async () => {
    for (const sink of sinks) await sink.close()
  })

  const cases: Array<[string, () => Promise<Sink>, string]> = [
    [
      'PostgreSQL, pool options',
      () => createSink({ dialect: 'postgres', pool: { host: '127.0.0.1', port } }),
      'PostgreSQL',
    ],
    [
      'PostgreSQL, a connection string',
      () => createSink({ dialect: 'postgres', pool: `postgres://postgres@127.0.0.1:${port}/test` }),
      'PostgreSQL',
    ],
    [
      'MySQL, pool options',
      () => createSink({ dialect: 'mysql', pool: { host: '127.0.0.1', port, user: 'root' } }),
      'MySQL',
    ],
    [
      'MySQL, a connection URI',
      () => createSink({ dialect: 'mysql', pool: `mysql://root@127.0.0.1:${port}/test` }),
      'MySQL',
    ],
  ]
  for (const [what, open, name] of cases) {
    it(`${what}: a SinkError naming host and port, from migrate, executeMany and the manager`, async () => {
      const sink = await open()
      sinks.push(sink)
      const message = new RegExp(`^cannot reach ${name} at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`)
      const attempts = [
        () => sink.migrate([Widget.sqlModel]),
        () => sink.executeMany([Widget.create({ id: 'w1', clicks: 1 })]),
        () => sink.execute(Widget.create({ id: 'w1', clicks: 1 })),
        () => Widget.objects.using(sink).getOrUndefined({ id: 'w1' }),
        () => Widget.objects.using(sink).filter({ id: 'w1' }).update({ clicks: 1 }),
      ]
      for (const attempt of attempts) {
        const error = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        )
        expect(error).toBeInstanceOf(SinkError)
        expect((error as Error).message).toMatch(message)
        expect((error as Error).cause).toBeInstanceOf(Error)
      }
    })
  }
})

describe('drivers', () => {
  it('a driver not installed is a SinkError naming the package to install', async () => {
    const error = await importDriver('phonon-no-such-driver', 'postgres').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(SinkError)
    expect((error as Error).message).toBe(
      "dialect 'postgres' needs the phonon-no-such-driver package, an optional peer dependency: npm install phonon-no-such-driver",
    )
  })

  it('a pg Pool given is used as it is, and named by its host and port', async () => {
    const pg = await loadDriver('postgres')
    const config = postgresConfig()
    const pool = new pg.Pool({ ...config })
    const sink = await createSink({ dialect: 'postgres', pool })
    try {
      expect(sink.database).toBe(`PostgreSQL at ${config.host}:${config.port}`)
      const rows = await sink.run('select', (db) =>
        db.selectNoFrom((eb) => eb.val(1).as('one')).execute(),
      )
      expect(rows.map((r) => Number(r.one))).toEqual([1])
    } finally {
      await sink.close()
    }
  })
})
