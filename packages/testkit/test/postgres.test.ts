/**
 * The PostgreSQL helpers against the shared server (127.0.0.1:5432, trust), through `psql`: testkit
 * has no database driver, and `postgresSchema` takes whatever runs a statement.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { postgresConfig, postgresSchema, uniqueName } from '@phonon/testkit'
import { afterEach, describe, expect, it, vi } from 'vitest'

const run = promisify(execFile)

/** Runs one statement with `psql` on the configured server; its unaligned output. */
async function psql(statement: string): Promise<string> {
  const { host, port, user, database } = postgresConfig()
  const args = ['-h', host, '-p', String(port), '-U', user, '-d', database]
  const { stdout } = await run('psql', [...args, '-v', 'ON_ERROR_STOP=1', '-Atc', statement])
  return stdout.trim()
}

const exists = async (schema: string) =>
  (await psql(`SELECT count(*) FROM pg_namespace WHERE nspname = '${schema}'`)) === '1'

describe('postgresConfig', () => {
  afterEach(() => {
    vi.unstubAllEnvs()
  })

  it('reads PGHOST, PGPORT, PGUSER and PGDATABASE, with the shared server as default', () => {
    vi.stubEnv('PGHOST', undefined)
    vi.stubEnv('PGPORT', undefined)
    vi.stubEnv('PGUSER', undefined)
    vi.stubEnv('PGDATABASE', undefined)
    expect(postgresConfig()).toEqual({
      host: '127.0.0.1',
      port: 5432,
      user: 'postgres',
      database: 'test',
    })
    vi.stubEnv('PGHOST', 'db.internal')
    vi.stubEnv('PGPORT', '6543')
    vi.stubEnv('PGUSER', 'ci')
    vi.stubEnv('PGDATABASE', 'other')
    expect(postgresConfig()).toEqual({
      host: 'db.internal',
      port: 6543,
      user: 'ci',
      database: 'other',
    })
  })
})

describe('uniqueName', () => {
  it('is <prefix>_<pid>_<8 hex digits>, different each call', () => {
    const names = new Set(Array.from({ length: 1000 }, () => uniqueName('phonon_x')))
    expect(names.size).toBe(1000)
    for (const name of names)
      expect(name).toMatch(new RegExp(`^phonon_x_${process.pid}_[0-9a-f]{8}$`))
    expect(uniqueName()).toMatch(/^phonon_test_\d+_[0-9a-f]{8}$/)
  })

  it.each(['', 'Upper', '1digit', 'a-b', 'a"b', 'a b'])('rejects the prefix %j', (prefix) => {
    expect(() => uniqueName(prefix)).toThrow(/prefix must match/)
  })
})

describe('postgresSchema', () => {
  it('names a schema no one has; drop() removes it with what is in it, and may run again', async () => {
    const statements: string[] = []
    const { schema, drop } = postgresSchema((sql) => {
      statements.push(sql)
      return psql(sql)
    }, 'phonon_testkit')
    expect(schema).toMatch(/^phonon_testkit_\d+_[0-9a-f]{8}$/)
    expect(await exists(schema)).toBe(false)
    expect(statements).toEqual([]) // nothing runs until drop()
    try {
      await psql(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".t (n int)`)
      expect(await exists(schema)).toBe(true)
    } finally {
      await drop()
    }
    expect(await exists(schema)).toBe(false)
    await drop()
    expect(statements).toEqual([
      `DROP SCHEMA IF EXISTS "${schema}" CASCADE`,
      `DROP SCHEMA IF EXISTS "${schema}" CASCADE`,
    ])
  }, 30_000)

  it('passes on what the statement runner throws', async () => {
    const { drop } = postgresSchema(() => Promise.reject(new Error('connection refused')))
    await expect(drop()).rejects.toThrow('connection refused')
  })
})
